"""The process layer: output capture, stopping, and process-group cleanup."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from foredeck.execute.logs import (
    MAX_LINE_BYTES,
    BuildLog,
    LogFile,
    LogIndex,
    OutputLimit,
    TaskLogger,
)
from foredeck.execute.process import ProcessGroups, ProcessOutcome, run_process
from foredeck.storage.tasklog import ENTRY, IndexedLog, LocalRange
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
    build_log = BuildLog(tmp_path / "build.log")
    output = TaskLogger("t", LogIndex(tmp_path / "t.index"), build_log).step_output("s")
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
    index = IndexedLog(LocalRange(tmp_path / "t.index"), LocalRange(tmp_path / "build.log"))
    assert index.read_range(0, index.size()) == (tmp_path / "build.log").read_bytes()
    assert (tmp_path / "t.index").stat().st_size == ENTRY.size  # one stretch


def test_a_task_log_is_its_stretches_of_the_build_log(tmp_path: Path) -> None:
    """Each line is stored once; the index of each task reads back exactly its lines, in
    order, from any offset, whatever the interleaving."""
    build_log = BuildLog(tmp_path / "build-log.txt")
    names = ["a", "b", "c"]
    loggers = {n: TaskLogger(n, LogIndex(tmp_path / f"{n}.index"), build_log) for n in names}
    outputs = {n: loggers[n].step_output("s") for n in names}
    order = "aaabacbbbcaaccccab"
    for i, name in enumerate(order):
        outputs[name].feed(b"line %d of %s\n" % (i, name.encode()))
        if i % 5 == 0:
            loggers[name].message(f"note {i}")
            loggers[name].message(f"shared {i}", own=False)
    for logger in loggers.values():
        logger.close()
    build_log.close()
    whole = (tmp_path / "build-log.txt").read_bytes()
    for name in names:
        expected = b"".join(
            line + b"\n" for line in whole.splitlines() if f" [{name}/".encode() in line
        )
        expected = b"".join(
            line + b"\n" for line in expected.splitlines() if b"] shared " not in line
        )
        log = IndexedLog(
            LocalRange(tmp_path / f"{name}.index"), LocalRange(tmp_path / "build-log.txt")
        )
        assert log.size() == len(expected)
        assert log.read_range(0, log.size()) == expected
        for start in range(0, len(expected), 7):
            assert log.read_range(start, 13) == expected[start : start + 13]
        assert log.read_range(len(expected), 10) == b""
    # Consecutive lines of one task are one stretch: "cccc" costs one entry, not four.
    entries = (tmp_path / "c.index").stat().st_size // ENTRY.size
    assert entries < order.count("c")


def test_output_past_the_limit_is_dropped_and_said_so(tmp_path: Path) -> None:
    limit = OutputLimit(1000, "controller.max_output_bytes")
    build_log = BuildLog(tmp_path / "build-log.txt", limit)
    logger = TaskLogger("t", LogIndex(tmp_path / "t.index"), build_log)
    output = logger.step_output("s")
    for i in range(100):
        output.feed(b"x" * 40 + b" %d\n" % i)
    output.feed(b"partial")
    assert build_log.cut
    output.flush()
    log = (tmp_path / "build-log.txt").read_text()
    kept = [line for line in log.splitlines() if "[t/s]" in line]
    assert 0 < sum(len(line) + 1 for line in kept) <= 1000  # whole lines, within the limit
    dropped = sum(len(b"x" * 40 + b" %d\n" % i) for i in range(len(kept), 100)) + len("partial")
    assert log.count("output cut:") == 2
    cut = "[t/foredeck] output cut: step output after 1000 bytes is dropped"
    assert f"{cut} (controller.max_output_bytes)" in log
    assert (
        f"[t/foredeck] output cut: {dropped} bytes of step 's' dropped after 1000 bytes "
        "(controller.max_output_bytes)"
    ) in log
    task = IndexedLog(LocalRange(tmp_path / "t.index"), LocalRange(tmp_path / "build-log.txt"))
    assert task.read_range(0, task.size()).decode().count("output cut:") == 2  # in its log too
    logger.message("task t: Succeeded")  # the executor's own lines are never cut
    assert "task t: Succeeded" in (tmp_path / "build-log.txt").read_text()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to fill a disk")
def test_log_file_survives_a_full_disk() -> None:
    log = LogFile(Path("/dev/full"))  # every write fails with ENOSPC
    log.write(b"data\n")
    assert isinstance(log.error, OSError)
    log.write(b"more\n")  # later writes are dropped, not raised
    log.close()
