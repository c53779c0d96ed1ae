"""The controller's database work: claiming, heartbeats, recovery and the final word.

Every write is a short transaction: no git, no process and no upload ever runs inside one. On
PostgreSQL several controllers share the queue: candidates are locked `FOR UPDATE SKIP LOCKED`
(oldest first), and a job name with a `max_concurrency` is serialised with a transaction-level
advisory lock, taken with `pg_try_advisory_xact_lock` so that two controllers that met on two
names in opposite orders skip instead of deadlocking. On SQLite the caller holds `write_lock` and
the transaction starts with `BEGIN IMMEDIATE`, which serialises claimers across processes too.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, text, tuple_, update
from sqlalchemy.orm import Session

from foredeck.db.jobs import set_state
from foredeck.db.models import FINISHED_STATES, Job, JobState
from foredeck.db.types import utcnow

ADVISORY_CLASS = 0x0F0DEC + 1
"""First key of the per-job-name advisory locks (the migration lock uses `0x0F0DEC` alone)."""
DIED = "controller died while running the job"
LOST = "controller lost track of the job (its end could not be recorded)"
MAX_DESCRIPTION = 2000
TRIGGERED: tuple[JobState, ...] = ("triggered",)
PENDING: tuple[JobState, ...] = ("pending",)
REQUEUE_FORGETS = ("owner", "heartbeat_at", "started_at", "build_id", "url", "workspace")
"""Columns of a re-queued job's dead run, cleared (its next claim sets them anew)."""


@dataclass(frozen=True)
class Claimed:
    id: int
    name: str
    build_id: str
    workspace: str


@dataclass(frozen=True)
class StaleJob:
    id: int
    owner: str | None
    heartbeat_at: datetime | None
    requeues: int
    workspace: str | None


def owner_host_pid(owner: str | None) -> tuple[str, int] | None:
    """`host:pid:random` -> (host, pid); None for anything else."""
    if not owner:
        return None
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def this_host() -> str:
    return socket.gethostname()


def job_limit(job_config: Any) -> int:
    """The job's own `max_concurrency` from its config snapshot (0: unlimited)."""
    if not isinstance(job_config, dict):
        return 0
    value = job_config.get("max_concurrency")
    return value if isinstance(value, int) and value > 0 else 0


def _try_name_lock(session: Session, name: str) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: the whole transaction is already exclusive
    got = session.execute(
        text("SELECT pg_try_advisory_xact_lock(:cls, hashtext(:name))"),
        {"cls": ADVISORY_CLASS, "name": name},
    ).scalar_one()
    return bool(got)


def _pending_count(session: Session, name: str) -> int:
    stmt = select(func.count()).select_from(Job).where(Job.name == name, Job.state == "pending")
    return int(session.execute(stmt).scalar_one())


def claim(
    session: Session,
    *,
    owner: str,
    limit: int,
    next_build_id: Callable[[int], str],
    workspace_for: Callable[[int], str],
    page_size: int = 32,
) -> list[Claimed]:
    """Move up to `limit` triggered jobs to pending for `owner`, oldest first.

    A job whose name is at its `max_concurrency` (counted over every controller's pending jobs)
    is left triggered and its name excluded from the rest of the scan, so that it never holds
    back younger jobs of other names.
    """
    claimed: list[Claimed] = []
    blocked: set[str] = set()
    room: dict[str, int] = {}
    after: tuple[datetime, int] | None = None
    while len(claimed) < limit:
        stmt = select(Job.id, Job.name, Job.created_at, Job.job_config).where(
            Job.state == "triggered"
        )
        if blocked:
            stmt = stmt.where(Job.name.not_in(sorted(blocked)))
        if after is not None:
            stmt = stmt.where(tuple_(Job.created_at, Job.id) > tuple_(*after))
        stmt = (
            stmt.order_by(Job.created_at, Job.id)
            .limit(max(page_size, 2 * (limit - len(claimed))))
            .with_for_update(skip_locked=True)
        )
        rows = session.execute(stmt).all()
        if not rows:
            break
        for row in rows:
            after = (row.created_at, row.id)
            if row.name in blocked:
                continue
            cap = job_limit(row.job_config)
            if cap:
                if row.name not in room:
                    if not _try_name_lock(session, row.name):
                        blocked.add(row.name)  # another controller is claiming it right now
                        continue
                    room[row.name] = cap - _pending_count(session, row.name)
                if room[row.name] <= 0:
                    blocked.add(row.name)
                    continue
                room[row.name] -= 1
            build_id = next_build_id(row.id)
            workspace = workspace_for(row.id)
            # Taken after the count: a job that ended before we counted ended before this start.
            now = utcnow()
            if not set_state(
                session, row.id, "pending", from_states=TRIGGERED, build_id=build_id, now=now
            ):
                continue
            session.execute(
                update(Job)
                .where(Job.id == row.id)
                .values(owner=owner, heartbeat_at=now, workspace=workspace)
                .execution_options(synchronize_session=False)
            )
            claimed.append(Claimed(row.id, row.name, build_id, workspace))
            if len(claimed) >= limit:
                break
    return claimed


def any_triggered(session: Session) -> bool:
    stmt = select(Job.id).where(Job.state == "triggered").limit(1)
    return session.execute(stmt).first() is not None


def heartbeat(session: Session, owner: str, ids: Collection[int]) -> set[int]:
    """Refresh `heartbeat_at` of our jobs; returns those still pending and ours."""
    if not ids:
        return set()
    stmt = (
        update(Job)
        .where(Job.id.in_(sorted(ids)), Job.owner == owner, Job.state == "pending")
        .values(heartbeat_at=utcnow())
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return {int(row[0]) for row in session.execute(stmt)}


def still_ours(session: Session, owner: str, ids: Collection[int]) -> set[int]:
    """Which of `ids` are still pending and owned by `owner` (a read: no write lock needed)."""
    if not ids:
        return set()
    stmt = select(Job.id).where(Job.id.in_(sorted(ids)), Job.owner == owner, Job.state == "pending")
    return {int(row[0]) for row in session.execute(stmt)}


def stale_jobs(
    session: Session,
    *,
    threshold: datetime,
    host: str,
    own_owner: str,
    running: Collection[int],
    pid_alive: Callable[[int], bool] = pid_alive,
) -> list[StaleJob]:
    """Pending jobs whose owner is gone: no heartbeat since `threshold`, or (same host) a pid
    that no longer exists, so that a restarted single-process server recovers at once. Jobs of
    `own_owner` are stale when they are not `running`: no run of ours will ever end them."""
    stmt = select(Job.id, Job.owner, Job.heartbeat_at, Job.requeues, Job.workspace).where(
        Job.state == "pending",
        or_(
            Job.heartbeat_at < threshold,
            and_(
                Job.heartbeat_at.is_(None),
                func.coalesce(Job.started_at, Job.created_at) < threshold,
            ),
            Job.owner.startswith(f"{host}:", autoescape=True),
        ),
    )
    found: list[StaleJob] = []
    for row in session.execute(stmt):
        beat = row.heartbeat_at
        if row.owner == own_owner:
            stale = row.id not in running
        else:
            stale = beat is None or beat < threshold
            if not stale:
                parsed = owner_host_pid(row.owner)
                stale = (
                    parsed is not None
                    and parsed[0] == host
                    and parsed[1] != os.getpid()
                    and not pid_alive(parsed[1])
                )
        if stale:
            found.append(StaleJob(row.id, row.owner, beat, row.requeues, row.workspace))
    return found


def recover(
    session: Session,
    job: StaleJob,
    *,
    requeue: bool,
    before_requeue: Callable[[], None],
    reason: str = DIED,
) -> JobState | None:
    """End a dead controller's job as `error` (`reason`), or put it back to `triggered` once.

    Compare-and-set on state, owner and heartbeat: a job whose owner came back to life (its
    heartbeat moved) is left alone. `before_requeue` runs while the row is still pending and
    locked, so no controller can start the job again before the dead run's files are moved away.
    Returns the new state, or None when the job was left alone.
    """
    row = session.execute(
        select(Job.state, Job.owner, Job.heartbeat_at, Job.requeues)
        .where(Job.id == job.id)
        .with_for_update()
    ).one_or_none()
    if row is None or row.state != "pending" or row.owner != job.owner:
        return None
    if row.heartbeat_at != job.heartbeat_at:
        return None
    if requeue and row.requeues < 1:
        before_requeue()
        set_state(
            session,
            job.id,
            "triggered",
            from_states=PENDING,
            description=f"requeued: {reason}",
        )
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values({**dict.fromkeys(REQUEUE_FORGETS), "requeues": Job.requeues + 1})
            .execution_options(synchronize_session=False)
        )
        return "triggered"
    set_state(session, job.id, "error", from_states=PENDING, description=reason)
    return "error"


def finish(
    session: Session,
    job_id: int,
    *,
    owner: str,
    build_id: str,
    state: JobState,
    description: str,
    url: str | None,
) -> bool:
    """Our final word on a job we own; False when it was taken from us (aborted, recovered).

    When someone else aborted it, our run's artifact `url` is still recorded.
    """
    row = session.execute(
        select(Job.state, Job.owner, Job.build_id).where(Job.id == job_id).with_for_update()
    ).one_or_none()
    if row is None:
        return False
    if row.state == "pending" and row.owner == owner:
        return set_state(
            session,
            job_id,
            state,
            from_states=PENDING,
            description=description[:MAX_DESCRIPTION],
            url=url,
        )
    if url and row.state in FINISHED_STATES and row.build_id == build_id:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.url.is_(None))
            .values(url=url)
            .execution_options(synchronize_session=False)
        )
    return False


def load_jobs(session: Session, ids: Iterable[int]) -> dict[int, Job]:
    rows = session.execute(select(Job).where(Job.id.in_(sorted(ids)))).scalars()
    return {job.id: job for job in rows}
