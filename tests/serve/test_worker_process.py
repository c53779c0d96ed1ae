"""The event worker of role `all` in a child process: woken across the process boundary, waking
the parent back, started again when it dies, stopped with the parent, never orphaned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from prometheus_client import CollectorRegistry

from foredeck.db import make_engine, migrate, session_factory
from foredeck.db.eventlog import NewEvent, log_events
from foredeck.serve import worker_process
from foredeck.serve.worker_process import WorkerProcess, WorkerProcessError
from foredeck.settings import Settings, WorkerSettings
from tests.child import python_path
from tests.hook.recorder import handled_counts
from tests.kit.wait import wait_for

RECORDER = "tests.hook.recorder:factory"
Started = tuple[WorkerProcess, threading.Event, CollectorRegistry]


@pytest.fixture(autouse=True)
def child_imports_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child imports the recorder plugin from `tests`."""
    monkeypatch.setenv("PYTHONPATH", python_path())


def settings(tmp_path: Path, plugins: list[str], poll_interval: float = 60.0) -> Settings:
    url = f"sqlite:///{tmp_path / 'fd.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    worker = WorkerSettings(plugins=plugins, poll_interval=poll_interval)
    return Settings(database_url=url, worker=worker)


def log_event(url: str, delivery: str) -> None:
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        log_events(session, [NewEvent(delivery, "ping", None, None, None, b"{}")])
    engine.dispose()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Started]:
    handled = threading.Event()
    registry = CollectorRegistry()
    proc = WorkerProcess(
        settings(tmp_path, [RECORDER]), after_batch=[handled.set], registry=registry
    )
    proc.start()
    try:
        yield proc, handled, registry
    finally:
        proc.stop()


def test_a_wake_up_crosses_to_the_child_and_back(tmp_path: Path, started: Started) -> None:
    proc, handled, registry = started
    url = proc.settings.database_url
    log_event(url, "d-1")
    proc.notify()  # the worker polls only every 60 s: this is what wakes it
    assert handled.wait(30), "the parent was not woken after the batch"
    engine = make_engine(url)
    assert handled_counts(engine) == {"d-1": 1}
    engine.dispose()
    # The child's worker metrics are served by the parent.
    processed = {"result": "processed"}
    assert registry.get_sample_value("foredeck_worker_events_total", processed) == 1


def test_metrics_of_batches_close_together_reach_the_parent(
    tmp_path: Path, started: Started
) -> None:
    """The child sends its metrics at most every `METRICS_INTERVAL`; those of a batch that
    came sooner are sent once the interval is over, not left behind."""
    proc, handled, registry = started
    processed = {"result": "processed"}
    for n in range(1, 4):
        handled.clear()
        log_event(proc.settings.database_url, f"d-{n}")
        proc.notify()
        assert handled.wait(30), f"batch {n} did not wake the parent"
    wait_for(
        "the parent to serve the metrics of all three batches",
        lambda: registry.get_sample_value("foredeck_worker_events_total", processed) == 3,
        timeout=30,
    )


def test_the_child_runs_at_the_configured_lower_priority(started: Started) -> None:
    proc, _, _ = started
    assert proc.pid is not None
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    expected = min(19, ours + proc.settings.worker.niceness)
    assert proc.settings.worker.niceness > 0
    assert os.getpriority(os.PRIO_PROCESS, proc.pid) == expected


def test_a_child_that_dies_is_started_again(
    tmp_path: Path,
    started: Started,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_process, "FIRST_RESTART_DELAY", 0.1)
    proc, handled, _ = started
    first = proc.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for("a new child", lambda: proc.pid not in (None, first))
    log_event(proc.settings.database_url, "d-2")
    proc.notify()
    assert handled.wait(30), "the new child does not handle events"


def test_the_child_stops_when_the_parent_stops_it(tmp_path: Path) -> None:
    proc = WorkerProcess(settings(tmp_path, [RECORDER]))
    proc.start()
    pid = proc.pid
    assert pid is not None and psutil.pid_exists(pid)
    # A signal to the whole group (Ctrl-C, `systemctl stop`) is for the parent to act on.
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.5)
    assert not gone(pid)
    proc.stop()
    assert gone(pid)
    proc.stop()  # twice: nothing left to do


def test_a_worker_that_cannot_start_fails_the_start(tmp_path: Path) -> None:
    proc = WorkerProcess(settings(tmp_path, ["no_such_module:create"]))
    with pytest.raises(WorkerProcessError, match="exited with status 2"):
        proc.start()
    proc.stop()


PARENT = """
import os, signal, sys
from foredeck.serve.worker_process import WorkerProcess
from foredeck.settings import Settings, WorkerSettings
proc = WorkerProcess(Settings(database_url=sys.argv[1], worker=WorkerSettings(plugins=[])))
proc.start()
print(proc.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_child_stops_when_its_parent_is_killed(tmp_path: Path) -> None:
    url = settings(tmp_path, []).database_url
    env = {**os.environ, "PYTHONPATH": python_path()}
    parent = subprocess.run(
        [sys.executable, "-c", PARENT, url], env=env, capture_output=True, text=True, timeout=120
    )
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    child = int(parent.stdout.split()[0])
    wait_for("the worker process to stop with its parent", lambda: gone(child), timeout=30)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
