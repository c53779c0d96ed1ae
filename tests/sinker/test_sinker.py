"""The sinker against a real database (SQLite and PostgreSQL) and a real file system."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select, update

from foredeck.db import Event, EventPayload, Job, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.eventlog import NewEvent, log_events, mark_processed
from foredeck.db.jobs import JobCreate, Refs, create_job
from foredeck.db.models import JobState, JobType
from foredeck.settings import ControllerSettings, Settings, SinkerSettings
from foredeck.sinker import Removal, Sinker, remove_workspace
from tests.db.fixtures import Database
from tests.serve.proc import wait_for

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
MAX_AGE = 7 * DAY


class World:
    """A database plus a workdir, and helpers to fill them."""

    def __init__(self, db: Database, tmp_path: Path) -> None:
        self.db = db
        self.workdir = tmp_path / "runs"
        self.workdir.mkdir()
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        (self.outside / "precious.txt").write_text("keep me")
        self.sessions = session_factory(db.engine)
        self._n = 0

    def sinker(self, **kw: object) -> Sinker:
        settings = Settings(
            controller=ControllerSettings(workdir=str(self.workdir)),
            sinker=SinkerSettings(max_age=MAX_AGE.total_seconds()),
        )
        sinker = Sinker.from_settings(settings, self.db.engine, now=lambda: NOW, **kw)  # type: ignore[arg-type]
        return sinker

    def workspace(self, name: str) -> Path:
        path = self.workdir / name
        (path / "repo").mkdir(parents=True)
        (path / "repo" / "file.txt").write_text("x")
        return path

    def job(
        self,
        name: str = "unit",
        *,
        type: JobType = "postsubmit",
        state: JobState = "success",
        age: timedelta = 10 * DAY,
        workspace: Path | str | None = None,
    ) -> int:
        """A job created `age` + 1h ago that (if finished) finished `age` ago."""
        self._n += 1
        refs = None if type == "periodic" else Refs(org="acme", repo="widget", base_ref="main")
        spec = JobCreate(name=name, type=type, refs=refs, dedupe_key=f"k{self._n}")
        finished = state not in ("triggered", "pending")
        with write_lock(self.db.engine), self.sessions.begin() as s:
            row, _ = create_job(s, spec, now=NOW - age - timedelta(hours=1))
            s.execute(
                update(Job)
                .where(Job.id == row.id)
                .values(
                    state=state,
                    finished_at=NOW - age if finished else None,
                    workspace=None if workspace is None else str(workspace),
                )
            )
            return row.id

    def job_ids(self) -> set[int]:
        with self.sessions() as s:
            return set(s.execute(select(Job.id)).scalars())


def test_removes_old_finished_jobs_and_their_workspaces(db: Database, tmp_path: Path) -> None:
    w = World(db, tmp_path)
    old_ws = w.workspace("old")
    old = w.job(workspace=old_ws)
    old_failed = w.job(state="failure", age=30 * DAY)
    old_aborted = w.job(state="aborted", age=7 * DAY + timedelta(seconds=1))
    recent_ws = w.workspace("recent")
    recent = w.job(age=7 * DAY - timedelta(seconds=1), workspace=recent_ws)
    running_ws = w.workspace("running")
    running = w.job(state="pending", age=60 * DAY, workspace=running_ws)
    queued = w.job(state="triggered", age=60 * DAY)
    registry = CollectorRegistry()

    result = w.sinker(registry=registry).sweep()

    assert (result.jobs, result.workspaces, result.refused, result.errors) == (3, 1, 0, 0)
    assert w.job_ids() == {recent, running, queued}
    assert old not in w.job_ids() and old_failed not in w.job_ids()
    assert old_aborted not in w.job_ids()
    assert not old_ws.exists()
    assert recent_ws.exists() and running_ws.exists()
    assert w.workdir.exists()
    assert registry.get_sample_value("foredeck_sinker_deleted_total", {"kind": "jobs"}) == 3
    assert w.sinker().sweep().jobs == 0  # nothing left to do


def test_keeps_the_latest_run_of_each_periodic(db: Database, tmp_path: Path) -> None:
    w = World(db, tmp_path)
    nightly = [w.job("nightly", type="periodic", age=age * DAY) for age in (30, 20, 10)]
    weekly = w.job("weekly", type="periodic", age=40 * DAY)
    # The latest nightly is still running: the older ones may go, the running one stays.
    hourly_done = w.job("hourly", type="periodic", age=9 * DAY)
    hourly_running = w.job("hourly", type="periodic", state="pending", age=8 * DAY)
    # A postsubmit of the same name does not count as a run of the periodic.
    w.job("weekly", type="postsubmit", age=9 * DAY)

    result = w.sinker().sweep()

    assert w.job_ids() == {nightly[2], weekly, hourly_running}
    assert hourly_done not in w.job_ids()
    assert result.jobs == 4


def test_latest_periodic_keeps_its_row_but_not_an_old_workspace(
    db: Database, tmp_path: Path
) -> None:
    w = World(db, tmp_path)
    old_ws, recent_ws = w.workspace("old"), w.workspace("recent")
    kept = w.job("nightly", type="periodic", age=30 * DAY, workspace=old_ws)
    recent = w.job("hourly", type="periodic", age=DAY, workspace=recent_ws)

    result = w.sinker().sweep()

    assert (result.jobs, result.workspaces) == (0, 1)
    assert w.job_ids() == {kept, recent}
    assert not old_ws.exists() and recent_ws.exists()
    with w.sessions() as s:
        workspaces = {r.id: r.workspace for r in s.execute(select(Job.id, Job.workspace))}
    assert workspaces == {kept: None, recent: str(recent_ws)}
    assert w.sinker().sweep().workspaces == 0


def test_refuses_workspaces_outside_the_workdir(db: Database, tmp_path: Path) -> None:
    w = World(db, tmp_path)
    link = w.workdir / "sneaky"
    link.symlink_to(w.outside, target_is_directory=True)
    refused = {
        w.job(workspace=w.outside),
        w.job(workspace=w.workdir / ".." / "outside"),
        w.job(workspace=link),  # inside by name, outside once the link is followed
        w.job(workspace=w.workdir),  # the workdir itself is no job's workspace
    }
    fine = w.job(workspace=w.workspace("fine"))

    result = w.sinker().sweep()

    assert result.refused == 4 and result.jobs == 1
    assert len(result.refused_paths) == 4
    assert (w.outside / "precious.txt").read_text() == "keep me"
    assert w.workdir.is_dir() and link.is_symlink()
    assert w.job_ids() == refused  # kept, so that the problem stays visible
    assert fine not in w.job_ids()


def test_missing_workspace_still_removes_the_row(db: Database, tmp_path: Path) -> None:
    w = World(db, tmp_path)
    w.job(workspace=w.workdir / "gone")
    assert w.sinker().sweep().jobs == 1
    assert w.job_ids() == set()


def test_deletes_in_batches(db: Database, tmp_path: Path) -> None:
    w = World(db, tmp_path)
    for i in range(7):
        w.job(workspace=w.workspace(f"ws{i}"))
    keep = w.job(age=DAY)
    w.job(workspace=w.outside)  # refused: must not stop the batches after it
    for i in range(3):
        w.job(f"late{i}")
    sinker = w.sinker()
    sinker.batch_size = 3
    result = sinker.sweep()
    assert (result.jobs, result.workspaces, result.refused) == (10, 7, 1)
    assert len(w.job_ids()) == 2 and keep in w.job_ids()
    assert list(w.workdir.iterdir()) == []


def test_deletes_only_old_processed_events(db: Database, tmp_path: Path) -> None:
    w = World(db, tmp_path)
    sessions = w.sessions

    def log(delivery: str, received: datetime) -> int:
        with write_lock(db.engine), sessions.begin() as s:
            [logged] = log_events(
                s, [NewEvent(delivery, "push", None, "acme", "widget", b"{}")], now=received
            )
            return logged.id

    old_done = [log(f"old-{i}", NOW - 30 * DAY) for i in range(3)]
    old_pending = log("old-pending", NOW - 30 * DAY)
    late_done = log("late-done", NOW - 30 * DAY)  # received long ago, processed recently
    new_done = log("new-done", NOW - DAY)
    with write_lock(db.engine), sessions.begin() as s:
        mark_processed(s, old_done, ["trigger"], now=NOW - 29 * DAY)
        mark_processed(s, [late_done], ["trigger"], now=NOW - DAY)
        mark_processed(s, [new_done], ["trigger"], now=NOW - DAY)

    sinker = w.sinker()
    sinker.batch_size = 2
    result = sinker.sweep()

    assert result.events == 3
    with sessions() as s:
        left = set(s.execute(select(Event.id)).scalars())
        payloads = set(s.execute(select(EventPayload.event_id)).scalars())
        assert int(s.execute(select(func.count()).select_from(EventPayload)).scalar_one()) == 3
    assert left == {old_pending, late_done, new_done}
    assert payloads == left


def test_remove_workspace_outcomes(tmp_path: Path) -> None:
    root = (tmp_path / "runs").resolve()
    (root / "a" / "deep").mkdir(parents=True)
    (root / "file").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "a" / "deep" / "escape").symlink_to(outside, target_is_directory=True)
    assert remove_workspace(str(root / "a"), root) is Removal.REMOVED
    assert outside.is_dir()  # links inside the tree are unlinked, not followed
    assert remove_workspace(str(root / "file"), root) is Removal.REMOVED
    assert remove_workspace(str(root / "a"), root) is Removal.MISSING
    assert remove_workspace(str(outside), root) is Removal.REFUSED
    # An ancestor of the workdir (never `/` here: a broken check must not be able to wipe it).
    assert remove_workspace(str(tmp_path), root) is Removal.REFUSED
    assert root.is_dir()


def test_start_sweeps_in_a_thread_until_stopped(db: Database, tmp_path: Path) -> None:
    w = World(db, tmp_path)
    w.job()
    sinker = w.sinker()
    thread = sinker.start()
    try:
        wait_for("the sweep", lambda: not w.job_ids(), timeout=10)
    finally:
        sinker.stop(timeout=10)
    assert not thread.is_alive()
