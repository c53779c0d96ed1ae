"""Processes that a dead controller's unsandboxed steps left running: killed when a controller
starts, and before a recovered job is ended or re-queued (it must never run beside them)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foredeck.controller import Controller
from foredeck.controller import ledger as ledger_module
from foredeck.controller.leftovers import run_name
from foredeck.controller.queries import recover as real_recover
from foredeck.db.models import JobState
from foredeck.execute.orphans import MARKER
from tests.controller.helpers import add_job, get_job, make_settings, spec_config
from tests.controller.test_recovery import DIED, dead_pid, make_pending
from tests.db.fixtures import Database
from tests.execute.helpers import alive, kill_all, orphan, survivors

BASE = {"PATH": os.environ["PATH"]}


@pytest.fixture
def spawned() -> Iterator[list[int]]:
    """Pids the test starts; whatever is left of them is killed at the end."""
    pids: list[int] = []
    yield pids
    kill_all(pids)


@pytest.fixture
def live_pid() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("requeue", [False, True])
async def test_recovery_kills_the_dead_runs_processes_before_the_job_ends_or_requeues(
    db: Database,
    tmp_path: Path,
    spawned: list[int],
    monkeypatch: pytest.MonkeyPatch,
    requeue: bool,
) -> None:
    owner = f"{socket.gethostname()}:{dead_pid()}:abcd"
    job_id = add_job(db, "orphaned", spec_config("true"))
    workspace = tmp_path / "runs" / str(job_id)
    (workspace / "out").mkdir(parents=True)
    make_pending(db, job_id, owner, 0, workspace)
    mine, other = run_name(tmp_path / "runs", job_id), run_name(tmp_path / "runs", job_id + 1)
    marked = orphan({**BASE, MARKER: f"{owner}/{mine}/3"}, tmp_path)
    unmarked_inside = orphan(BASE, workspace / "out")  # cleared its environment, say
    another_job = orphan({**BASE, MARKER: f"{owner}/{other}/1"}, tmp_path)
    spawned += [marked, unmarked_inside, another_job]
    alive_at_recovery: list[bool] = []

    def recover(*args: Any, **kwargs: Any) -> JobState | None:
        alive_at_recovery.extend(alive(pid) for pid in (marked, unmarked_inside))
        return real_recover(*args, **kwargs)

    monkeypatch.setattr(ledger_module, "recover", recover)
    settings = make_settings(tmp_path, db, requeue_on_recovery=requeue)
    controller = Controller(db.engine, settings)

    assert await controller.recover_stale() == [job_id]
    assert alive_at_recovery == [False, False]
    job = get_job(db, job_id)
    assert (job.state, job.description) == (
        ("triggered", f"requeued: {DIED}") if requeue else ("error", DIED)
    )
    assert alive(another_job)  # another job's processes wait for that job's recovery


async def test_a_starting_controller_kills_what_dead_owners_left_on_this_host(
    db: Database, tmp_path: Path, spawned: list[int], live_pid: int
) -> None:
    host = socket.gethostname()

    def left(owner: str, workdir: Path, job_id: int) -> int:
        return orphan({**BASE, MARKER: f"{owner}/{run_name(workdir, job_id)}/1"}, tmp_path)

    ours = tmp_path / "runs"
    dead_owner = left(f"{host}:{dead_pid()}:abcd", ours, 5)
    live_owner = left(f"{host}:{live_pid}:abcd", ours, 6)
    other_host = left(f"elsewhere:{dead_pid()}:abcd", ours, 7)
    other_workdir = left(f"{host}:{dead_pid()}:abcd", tmp_path / "elsewhere", 8)
    spawned += [dead_owner, live_owner, other_host, other_workdir]
    controller = Controller(db.engine, make_settings(tmp_path, db))

    await controller.run_once()
    assert survivors([dead_owner]) == []
    # Alive: its owner's; another machine's, for that machine; another deployment's, for it.
    assert alive(live_owner) and alive(other_host) and alive(other_workdir)
