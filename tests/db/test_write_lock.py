"""SQLite writers queue on `write_lock`: threads of one process on a fair lock, processes on a
lock file beside the database (SQLite's own busy handler sleeps up to 100 ms a step)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from foredeck.db import make_engine
from foredeck.db.engine import FairLock, write_lock
from tests.child import python_path
from tests.kit.wait import wait_for

HOLDER = """
import sys, time
from pathlib import Path
from foredeck.db import make_engine
from foredeck.db.engine import write_lock
engine = make_engine(sys.argv[1])
with write_lock(engine):
    Path(sys.argv[2]).write_text("held")
    time.sleep(0.5)
    Path(sys.argv[2]).write_text("released")
"""


def test_a_writer_in_another_process_waits_for_the_lock_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": python_path()}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(marker)], env=env)
    try:
        wait_for("the other process to hold the lock", lambda: marker.exists(), timeout=60)
        engine = make_engine(url)
        with write_lock(engine):
            # Granted only once the other process let go.
            assert marker.read_text() == "released"
        engine.dispose()
    finally:
        assert holder.wait(60) == 0
    assert (tmp_path / "db.sqlite-writer.lock").exists()


def test_threads_of_one_process_share_one_lock_in_order(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    lock = write_lock(engine)
    assert write_lock(engine) is lock
    order: list[int] = []
    assert isinstance(lock, FairLock)
    waiters = [threading.Thread(target=_take, args=(lock, n, order), daemon=True) for n in range(3)]
    lock.acquire()
    try:
        for n, thread in enumerate(waiters):
            thread.start()
            # This test holds one ticket; the waiters started so far hold one each.
            wait_for(f"waiter {n} to queue", lambda n=n: _queued(lock) == n + 2)  # type: ignore[misc]
    finally:
        lock.release()
    for thread in waiters:
        thread.join(10)
    assert order == [0, 1, 2]
    engine.dispose()


def test_in_memory_databases_need_no_lock_file(tmp_path: Path) -> None:
    engine = make_engine("sqlite://")
    with write_lock(engine):
        pass
    assert not list(tmp_path.iterdir())


def _take(lock: FairLock, n: int, order: list[int]) -> None:
    with lock:
        order.append(n)


def _queued(lock: FairLock) -> int:
    return lock._next_ticket - lock._serving  # the length of its queue
