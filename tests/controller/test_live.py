"""Live snapshots: a running job's logs reach its build directory in the store before it ends."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from foredeck.controller import Controller
from foredeck.controller.live import CUT_MARK, MAX_FILES, LiveSnapshots
from foredeck.controller.live import _Candidate as Candidate
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import set_state
from foredeck.execute.logs import BuildLog, LogIndex, TaskLogger
from foredeck.storage.local import LocalStore
from foredeck.storage.store import open_store
from foredeck.storage.tasklog import TASK_LOG_INDEX, read_task_log
from tests.controller.helpers import add_job, get_job, host_dir, make_settings, run_all, spec_config
from tests.db.fixtures import Database
from tests.kit.wait import eventually


def chatty(tmp_path: Path) -> str:
    """A step that prints a numbered line every 50 ms until the test creates `go`."""
    return (
        f'i=0; while [ ! -e {host_dir(tmp_path) / "go"} ]; do i=$((i+1)); echo "line $i"; '
        "sleep 0.05; done; echo all done"
    )


def stored(build: Path, rel: str) -> str:
    try:
        return (build / rel).read_text()
    except FileNotFoundError:
        return ""


def last_line_number(text: str) -> int:
    numbers = [int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if " line " in line]
    return max(numbers, default=0)


async def test_running_job_snapshots_grow_in_the_store_until_the_final_publish(
    db: Database, tmp_path: Path
) -> None:
    job_id = add_job(db, "chatty", spec_config(chatty(tmp_path)))
    settings = make_settings(tmp_path, db, live_publish_interval=0.2)
    controller = Controller(db.engine, settings)
    assert await controller.run_once() == [job_id]
    job = get_job(db, job_id)
    build = tmp_path / "artifacts" / "logs" / "chatty" / str(job.build_id)
    workspace_log = Path(str(job.workspace)) / "out" / "build-log.txt"
    runner = asyncio.create_task(run_all(controller))

    await eventually(lambda: last_line_number(stored(build, "build-log.txt")) >= 3)
    first = last_line_number(stored(build, "build-log.txt"))
    await eventually(lambda: last_line_number(stored(build, "build-log.txt")) >= first + 5)
    # The job still runs: no finished.json, no latest-build.txt, a graph that says Running.
    assert get_job(db, job_id).state == "pending"
    assert not (build / "finished.json").exists()
    assert not (build.parent / "latest-build.txt").exists()
    assert json.loads(stored(build, "pipeline-run.json"))["status"] == "Running"
    assert (build / "started.json").is_file()
    task_logs = list(build.glob("tasks/*/log.txt"))
    assert task_logs and "line 1" in task_logs[0].read_text()
    assert not (build / ".work").exists()
    # The snapshot is never ahead of the workspace: a prefix of the log being written.
    assert workspace_log.read_text().startswith(stored(build, "build-log.txt"))

    (host_dir(tmp_path) / "go").touch()
    await asyncio.wait_for(runner, 30)
    job = get_job(db, job_id)
    assert job.state == "success", job.description
    final = stored(build, "build-log.txt")
    assert "all done" in final and final == workspace_log.read_text()
    assert json.loads(stored(build, "finished.json"))["result"] == "SUCCESS"
    assert json.loads(stored(build, "pipeline-run.json"))["status"] == "Succeeded"
    assert (build / "prowjob.json").is_file()
    assert (build.parent / "latest-build.txt").read_text() == job.build_id
    # The task's log is its index now, by a hard link to the workspace's: the snapshot's text
    # of it is gone, and the build log is the workspace's file itself, not a copy.
    assert not list(build.glob("tasks/*/log.txt"))
    assert [p.name for p in build.glob("tasks/*/*")] == [TASK_LOG_INDEX]
    assert (build / "build-log.txt").samefile(workspace_log)


async def test_aborted_job_final_publish_overwrites_the_snapshots(
    db: Database, tmp_path: Path
) -> None:
    job_id = add_job(db, "chatty", spec_config(chatty(tmp_path)))
    settings = make_settings(tmp_path, db, live_publish_interval=0.1, default_grace_period=0.3)
    controller = Controller(db.engine, settings)
    assert await controller.run_once() == [job_id]
    build = tmp_path / "artifacts" / "logs" / "chatty" / str(get_job(db, job_id).build_id)
    runner = asyncio.create_task(run_all(controller))
    await eventually(lambda: last_line_number(stored(build, "build-log.txt")) >= 2)
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        assert set_state(session, job_id, "aborted", description="superseded")
    await asyncio.wait_for(runner, 30)
    job = get_job(db, job_id)
    assert job.state == "aborted"
    workspace_log = Path(str(job.workspace)) / "out" / "build-log.txt"
    assert stored(build, "build-log.txt") == workspace_log.read_text()
    assert json.loads(stored(build, "finished.json"))["result"] == "ABORTED"


async def test_zero_interval_uploads_nothing_before_the_end(db: Database, tmp_path: Path) -> None:
    job_id = add_job(db, "quiet", spec_config("echo one; sleep 0.6; echo two"))
    controller = Controller(db.engine, make_settings(tmp_path, db, live_publish_interval=0))
    assert await controller.run_once() == [job_id]
    build = tmp_path / "artifacts" / "logs" / "quiet" / str(get_job(db, job_id).build_id)
    runner = asyncio.create_task(run_all(controller))
    await asyncio.sleep(0.4)
    assert not build.exists()
    await asyncio.wait_for(runner, 30)
    assert "two" in stored(build, "build-log.txt")


class Logs:
    """A run's logs written as the executor writes them: the build log, and each task's log as
    an index of it."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.build_log = BuildLog(out / "build-log.txt")
        self.loggers: dict[str, TaskLogger] = {}

    def task(self, name: str, text: bytes) -> None:
        logger = self.loggers.get(name)
        if logger is None:
            index = LogIndex(self.out / "tasks" / name / TASK_LOG_INDEX)
            logger = self.loggers[name] = TaskLogger(name, index, self.build_log)
        output = logger.step_output("s")
        output.feed(text)
        output.flush()

    def text(self, name: str) -> bytes:
        return read_task_log(self.out, f"tasks/{name}/{TASK_LOG_INDEX}")


def make_out(out: Path) -> Logs:
    """An executor output directory, with scratch, artifacts and a finished run's marker."""
    (out / ".work" / "workspaces" / "src").mkdir(parents=True)
    (out / ".work" / "workspaces" / "src" / "secret.txt").write_text("scratch\n")
    (out / ".work" / "build-log.txt").write_text("scratch log\n")
    logs = Logs(out)
    logs.build_log.write(b"first line\n")
    logs.task("build", b"building\n")
    logs.task("test", b"testing\n")
    (out / "artifacts" / "build").mkdir(parents=True)
    (out / "artifacts" / "build" / "bin").write_bytes(b"\0" * 100)
    (out / "started.json").write_text('{"timestamp": 1}')
    (out / "pipeline-run.json").write_text('{"status": "Running"}')
    (out / "finished.json").write_text('{"result": "SUCCESS"}')
    return logs


def test_snapshot_uploads_only_live_files_and_only_what_changed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    logs = make_out(out)
    store = LocalStore(tmp_path / "store")
    live = LiveSnapshots(lambda: store, "logs/j/1", out, max_bytes=1 << 20, max_file_bytes=1 << 20)
    stats = live.snapshot()
    expected = [
        "started.json",
        "pipeline-run.json",
        "build-log.txt",
        "tasks/build/log.txt",
        "tasks/test/log.txt",
    ]
    assert stats.uploaded == expected  # started.json first, as the final publish does
    listed = sorted(e.path for e in store.list("logs/j/1", recursive=True))
    assert listed == sorted(f"logs/j/1/{rel}" for rel in expected)
    assert not any(".work" in p or "finished.json" in p or "artifacts" in p for p in listed)
    assert store.read_bytes("logs/j/1/build-log.txt") == (out / "build-log.txt").read_bytes()
    # A task log's text, not its index: the snapshot's build log may be only a tail.
    assert store.read_bytes("logs/j/1/tasks/test/log.txt") == logs.text("test")
    assert logs.text("test").endswith(b" [test/s] testing\n")

    assert live.snapshot().uploaded == []  # nothing changed
    logs.build_log.write(b"second line\n")
    (out / ".work" / "build-log.txt").write_text("more scratch\n")
    assert live.snapshot().uploaded == ["build-log.txt"]
    assert store.read_bytes("logs/j/1/build-log.txt") == (out / "build-log.txt").read_bytes()
    logs.task("build", b"built\n")
    assert live.snapshot().uploaded == ["build-log.txt", "tasks/build/log.txt"]
    assert store.read_bytes("logs/j/1/tasks/build/log.txt") == logs.text("build")

    # A log the job swaps for a symlink is skipped, and a stale stat does not follow it.
    secret = tmp_path / "secret.txt"
    secret.write_bytes((out / "tasks" / "test" / TASK_LOG_INDEX).read_bytes())
    swapped = out / "tasks" / "test" / TASK_LOG_INDEX
    real_changed = live.changed
    before = swapped.stat()
    swapped.unlink()
    swapped.symlink_to(secret)
    assert live.changed() == []
    old = Candidate("tasks/test/log.txt", swapped, 1, before.st_mtime_ns + 1, index=True)
    live.changed = lambda: [old]  # type: ignore[method-assign]
    assert live.snapshot().uploaded == []
    live.changed = real_changed  # type: ignore[method-assign]
    assert store.read_bytes("logs/j/1/tasks/test/log.txt") == logs.text("test")

    live.close()
    with open(out / "build-log.txt", "a") as log:
        log.write("after close\n")
    assert live.snapshot().uploaded == []
    assert b"after close" not in store.read_bytes("logs/j/1/build-log.txt")


def test_long_log_is_cut_to_its_tail_with_a_notice(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    lines = [f"line {i:05d} {'x' * 40}\n" for i in range(2000)]  # about 100 KB
    (out / "build-log.txt").write_text("".join(lines))
    store = open_store(f"file://{tmp_path / 'store'}")
    live = LiveSnapshots(lambda: store, "logs/j/1", out, max_bytes=64 << 10, max_file_bytes=4096)
    stats = live.snapshot()
    assert stats.uploaded == ["build-log.txt"] and stats.cut == ["build-log.txt"]
    data = store.read_bytes("logs/j/1/build-log.txt").decode()
    notice, rest = data.split("\n", 1)
    assert CUT_MARK in notice
    total = (out / "build-log.txt").stat().st_size
    kept = len(rest.encode())
    assert f"the first {total - kept} of {total} bytes are left out" in notice
    assert rest.endswith(lines[-1]) and rest.startswith("line ")  # whole lines only
    assert stats.bytes == len(data.encode()) <= 4096  # the cap holds, notice included
    assert kept > 4096 - 256 - len(lines[0])  # and is used up to a line


def test_snapshot_budget_defers_the_rest_fairly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    logs = Logs(out)
    for name in ("a", "b", "c"):
        logs.task(name, b"y" * 1500 + b"\n")
    store = LocalStore(tmp_path / "store")
    live = LiveSnapshots(lambda: store, "b/1", out, max_bytes=4000, max_file_bytes=2048)
    first = live.snapshot()  # the build log (its cut tail) first, then what fits
    assert first.uploaded == ["build-log.txt", "tasks/a/log.txt"] and first.deferred == 2
    assert first.bytes <= 4000
    # Everything grows; the logs left out last time go first now.
    for round_, name in enumerate(("b", "c")):
        for task in ("a", "b", "c"):
            logs.task(task, b"z%d\n" % round_)
        later = live.snapshot()
        assert later.uploaded == ["build-log.txt", f"tasks/{name}/log.txt"], round_
        assert later.deferred == 2
    assert MAX_FILES >= 3
    with pytest.raises(ValueError, match="at least 1024 bytes"):
        LiveSnapshots(lambda: store, "b/1", out, max_bytes=3500, max_file_bytes=100)


def test_snapshot_of_a_large_log_stays_bounded(tmp_path: Path) -> None:
    """A 256 MiB log (sparse: no disk) costs one capped upload per change, not its size."""
    out = tmp_path / "out"
    out.mkdir()
    with open(out / "build-log.txt", "wb") as log:
        log.truncate(256 << 20)
        log.seek(256 << 20)
        log.write(b"the end\n")
    store = LocalStore(tmp_path / "store")
    live = LiveSnapshots(lambda: store, "b/1", out, max_bytes=8 << 20, max_file_bytes=2 << 20)
    begin = time.perf_counter()
    stats = live.snapshot()
    assert time.perf_counter() - begin < 5
    assert stats.cut == ["build-log.txt"] and stats.bytes <= 2 << 20
    assert store.read_bytes("b/1/build-log.txt").endswith(b"the end\n")
    assert live.snapshot().bytes == 0


def test_a_long_task_log_is_cut_to_its_tail_and_forgotten_after_the_publish(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    logs = Logs(out)
    lines = b"".join(b"line %05d %s\n" % (i, b"x" * 40) for i in range(2000))
    logs.task("t", lines)
    logs.task("quiet", b"hello\n")
    store = LocalStore(tmp_path / "store")
    live = LiveSnapshots(lambda: store, "b/1", out, max_bytes=64 << 10, max_file_bytes=4096)
    stats = live.snapshot()
    assert "tasks/t/log.txt" in stats.cut and "tasks/quiet/log.txt" not in stats.cut
    notice, rest = store.read_bytes("b/1/tasks/t/log.txt").split(b"\n", 1)
    assert CUT_MARK.encode() in notice and logs.text("t").endswith(rest)
    assert rest.startswith(b"20") and len(rest) <= 4096  # from a line start, within the cap
    # The final publish put the indexes there: the texts are stale copies now.
    live.close()
    live.forget()
    assert not store.exists("b/1/tasks/t/log.txt") and not store.exists("b/1/tasks/quiet/log.txt")
    assert store.exists("b/1/build-log.txt")
