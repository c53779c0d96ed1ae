"""What the sinker may delete, as SQL conditions checked again at the moment of deletion.

A job row may go when it is finished, finished before the cutoff, and is not the latest run of
a periodic (the scheduler reads that one to know when to run next, and it is the periodic's
last visible result); its old workspace is removed all the same. An event may go when it was
processed before the cutoff; an unprocessed event is owed to the worker and is never deleted,
however old.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    delete,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from foredeck.db.models import FINISHED_STATES, Event, EventPayload, Job


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    workspace: str | None


def _superseded() -> ColumnElement[bool]:
    """A newer periodic run of the same name exists."""
    newer = aliased(Job)
    return exists().where(newer.type == "periodic", newer.name == Job.name, newer.id > Job.id)


def _old_finished(cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        Job.state.in_(FINISHED_STATES),
        Job.finished_at.is_not(None),
        Job.finished_at < cutoff,
    )


def _deletable_job(cutoff: datetime) -> ColumnElement[bool]:
    return and_(_old_finished(cutoff), or_(Job.type != "periodic", _superseded()))


def _kept_with_workspace(cutoff: datetime) -> ColumnElement[bool]:
    """The latest run of a periodic, old and finished: the row stays, its workspace need not."""
    return and_(
        _old_finished(cutoff),
        Job.type == "periodic",
        Job.workspace.is_not(None),
        ~_superseded(),
    )


def old_jobs(
    conn: Session | Connection, cutoff: datetime, limit: int, after_id: int = 0
) -> list[Candidate]:
    """Up to `limit` deletable jobs with ids above `after_id`, oldest id first."""
    return _candidates(conn, _deletable_job(cutoff), limit, after_id)


def kept_workspaces(
    conn: Session | Connection, cutoff: datetime, limit: int, after_id: int = 0
) -> list[Candidate]:
    """Up to `limit` kept periodic runs that still have an old workspace, oldest id first."""
    return _candidates(conn, _kept_with_workspace(cutoff), limit, after_id)


def _candidates(
    conn: Session | Connection, which: ColumnElement[bool], limit: int, after_id: int
) -> list[Candidate]:
    """One page of the jobs `which` selects, by id, for paging through without an offset."""
    stmt = (
        select(Job.id, Job.workspace).where(which, Job.id > after_id).order_by(Job.id).limit(limit)
    )
    return [Candidate(row.id, row.workspace) for row in conn.execute(stmt)]


def forget_workspaces(session: Session, removed: Sequence[Candidate]) -> int:
    """Clear the `workspace` of rows whose directory was removed (unless it changed since)."""
    count = 0
    for job in removed:
        stmt = (
            update(Job)
            .where(Job.id == job.id, Job.workspace == job.workspace)
            .values(workspace=None)
            .execution_options(synchronize_session=False)
        )
        count += int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
    return count


def delete_jobs(session: Session, ids: Sequence[int], cutoff: datetime) -> int:
    """Delete those of `ids` that are still deletable; returns how many were."""
    if not ids:
        return 0
    stmt = (
        delete(Job)
        .where(Job.id.in_(list(ids)), _deletable_job(cutoff))
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def delete_old_events(session: Session, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` events processed before `cutoff`, with their payloads."""
    events = cast(Table, Event.__table__)
    payloads = cast(Table, EventPayload.__table__)
    ids = list(
        session.execute(
            select(events.c.id)
            .where(events.c.processed_at.is_not(None), events.c.processed_at < cutoff)
            .order_by(events.c.id)
            .limit(limit)
        ).scalars()
    )
    if not ids:
        return 0
    session.execute(delete(payloads).where(payloads.c.event_id.in_(ids)))
    result = session.execute(
        delete(events).where(events.c.id.in_(ids), events.c.processed_at.is_not(None))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
