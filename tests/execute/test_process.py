"""The process layer: output capture, stopping, and process-group cleanup."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from foredeck.execute.logs import MAX_LINE_BYTES, LogFile, TaskLogger
from foredeck.execute.process import ProcessGroups, ProcessOutcome, run_process
from tests.execute.helpers import read_pids, survivors


async def capture(argv: list[str], **kwargs: Any) -> tuple[ProcessOutcome, bytes]:
    chunks: list[bytes] = []
    groups = ProcessGroups()
    try:
        outcome = await run_process(
            argv, cwd="/", env=os.environ, sink=chunks.append, groups=groups, **kwargs
        )
    finally:
        assert len(groups) == 0  # every group is forgotten once it is dead
        groups.close()
    return outcome, b"".join(chunks)


async def test_exit_code_and_interleaved_output() -> None:
    outcome, output = await capture(["sh", "-c", "echo a; echo b >&2; echo c; exit 7"])
    assert outcome.returncode == 7 and outcome.stopped is None
    assert output == b"a\nb\nc\n"


async def test_program_that_cannot_start_raises_oserror() -> None:
    with pytest.raises(FileNotFoundError):
        await capture(["/nonexistent/program"])


async def test_deadline_sends_term_then_kill(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"trap '' TERM; echo $$ > {pids}; sleep 30 & echo $! >> {pids}; wait; sleep 30"
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    outcome, _ = await capture(["sh", "-c", script], deadline=loop.time() + 0.3, grace=0.3)
    elapsed = time.monotonic() - started
    assert outcome.stopped == "deadline"
    assert outcome.returncode == -9  # SIGTERM was ignored: SIGKILL after the grace period
    assert 0.6 <= elapsed < 3
    assert survivors(read_pids(pids)) == []


async def test_cancel_future_stops_the_process() -> None:
    loop = asyncio.get_running_loop()
    cancel: asyncio.Future[None] = loop.create_future()
    loop.call_later(0.2, cancel.set_result, None)
    outcome, _ = await capture(["sleep", "30"], cancel=cancel, grace=1)
    assert outcome.stopped == "cancel"
    assert outcome.returncode == -15


async def test_cancelling_the_caller_kills_the_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    runner = asyncio.create_task(
        capture(["sh", "-c", f"echo $$ > {pids}; sleep 30 & echo $! >> {pids}; wait"])
    )
    while not pids.exists() or len(pids.read_text().split()) < 2:
        await asyncio.sleep(0.02)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert survivors(read_pids(pids)) == []


def test_kill_all_kills_every_tracked_group() -> None:
    import subprocess

    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    groups = ProcessGroups()
    groups.add(proc.pid)
    groups.kill_all()
    assert proc.wait(timeout=5) == -9


def test_step_output_splits_lines_across_chunks(tmp_path: Path) -> None:
    task_log, build_log = LogFile(tmp_path / "task.log"), LogFile(tmp_path / "build.log")
    output = TaskLogger("t", task_log, build_log).step_output("s")
    output.feed(b"hel")
    assert (tmp_path / "build.log").read_bytes() == b""  # a partial line waits for its end
    output.feed(b"lo\nwor")
    output.feed(b"ld\n\xff\n" + b"x" * (MAX_LINE_BYTES + 10))
    output.flush()
    lines = (tmp_path / "build.log").read_bytes().splitlines()
    assert [line.split(b" [t/s] ", 1)[1] for line in lines] == [
        b"hello",
        b"world",
        b"\xff",  # bytes are passed through, not decoded
        b"x" * (MAX_LINE_BYTES + 10),  # an over-long line is cut off, not kept growing
    ]
    task_lines = (tmp_path / "task.log").read_bytes().splitlines()
    assert all(b" [s] " in line for line in task_lines) and len(task_lines) == 4


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to fill a disk")
def test_log_file_survives_a_full_disk() -> None:
    log = LogFile(Path("/dev/full"))  # every write fails with ENOSPC
    log.write(b"data\n")
    assert isinstance(log.error, OSError)
    log.write(b"more\n")  # later writes are dropped, not raised
    log.close()
