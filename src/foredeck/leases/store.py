"""The lease tables' queries: every state change of a resource is one short transaction (on
PostgreSQL, acquire, heartbeat and release are one statement each in autocommit: `single`).

On PostgreSQL the row to take is chosen with `FOR UPDATE SKIP LOCKED`, so that two acquirers
never get one resource and neither waits on a row the other is taking; on SQLite the write
lock (`BEGIN IMMEDIATE` under `write_lock`) serialises writers and the clause is left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Interval,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from foredeck.db.engine import write_lock
from foredeck.db.models import LeaseInterval, LeaseResource
from foredeck.db.types import UTCDateTime, utcnow
from foredeck.leases import single
from foredeck.leases.model import Lease, LeaseLost

R = LeaseResource
I = LeaseInterval  # noqa: E741 - the table's alias in queries
LIVE = ("free", "busy", "dirty", "cleaning")


@dataclass(frozen=True)
class Claimed:
    """A resource a cleaner has taken (`cleaning`): what it must clean or delete."""

    id: int
    type: str
    name: str
    dynamic: bool
    user_data: dict[str, Any]


def new_lease_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    with write_lock(engine), engine.begin() as conn:
        yield conn


def _type_lock(conn: Connection, type_: str) -> None:
    """Serialise changes to one type's set of resources (creating dynamic ones) on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(15, hashtext(:t))"), {"t": type_})


def _clock(conn: Connection) -> Any:
    """The time of a state change, read once the rows are locked: PostgreSQL's
    `clock_timestamp()` (one clock for every process), or on SQLite this process's clock
    under the write lock. Either way a lease's start is after the previous one's end."""
    if conn.dialect.name == "postgresql":
        return func.clock_timestamp(type_=UTCDateTime())
    return utcnow()


def _plus(now: Any, seconds: float) -> Any:
    """`now` + `seconds`, for a Python time or PostgreSQL's clock."""
    if isinstance(now, datetime):
        return now + timedelta(seconds=seconds)
    return now + literal(timedelta(seconds=seconds), Interval())


def _busy_values(lease_id: str, owner: str, now: Any, ttl: float) -> dict[str, Any]:
    return {
        "state": "busy",
        "owner": owner,
        "lease_id": lease_id,
        "acquired_at": now,
        "heartbeat_at": now,
        "expires_at": _plus(now, ttl),
        "updated_at": now,
    }


def _record(conn: Connection, lease: Lease, resource_id: int) -> None:
    conn.execute(
        insert(I).values(
            lease_id=lease.id,
            resource_id=resource_id,
            type=lease.type,
            name=lease.name,
            owner=lease.owner,
            acquired_at=lease.acquired_at,
        )
    )


def try_acquire(engine: Engine, type_: str, owner: str, ttl: float) -> Lease | None:
    """Take the first free resource of `type_`, or None when none is free."""
    lease_id = new_lease_id()
    if engine.dialect.name == "postgresql":
        with single.autocommit(engine) as conn:
            row = single.acquire(conn, type_, owner, lease_id, ttl)
            if row is None:
                return None
            return Lease(
                lease_id, type_, row.name, owner, row.acquired_at, row.expires_at, row.user_data
            )
    first_free = select(R.id).where(R.type == type_, R.state == "free").order_by(R.id).limit(1)
    with transaction(engine) as conn:
        stmt = (
            update(R)
            .where(R.id == first_free.scalar_subquery())
            .values(**_busy_values(lease_id, owner, _clock(conn), ttl))
            .returning(R.id, R.name, R.user_data, R.acquired_at, R.expires_at)
        )
        row = conn.execute(stmt).one_or_none()
        if row is None:
            return None
        lease = Lease(
            lease_id, type_, row.name, owner, row.acquired_at, row.expires_at, row.user_data or {}
        )
        _record(conn, lease, row.id)
    return lease


def insert_dynamic(
    engine: Engine, type_: str, name: str, lease_id: str, owner: str, ttl: float, max_count: int
) -> Lease | None:
    """A new busy resource row for a resource a provider is about to make; None at max_count.

    The row exists (and names the resource) before the provider makes it, so that the janitor
    never deletes a resource being made.
    """
    with transaction(engine) as conn:
        _type_lock(conn, type_)
        live = conn.execute(
            select(func.count()).where(R.type == type_, R.state.in_(LIVE))
        ).scalar_one()
        if live >= max_count:
            return None
        now = _clock(conn)
        values = _busy_values(lease_id, owner, now, ttl)
        row = conn.execute(
            insert(R)
            .values(type=type_, name=name, dynamic=True, user_data={}, created_at=now, **values)
            .returning(R.id, R.acquired_at, R.expires_at)
        ).one()
        lease = Lease(lease_id, type_, name, owner, row.acquired_at, row.expires_at, {})
        _record(conn, lease, row.id)
    return lease


def insert_spare(
    engine: Engine, type_: str, name: str, min_count: int, max_count: int, hold: float
) -> bool:
    """A `cleaning` row for a spare dynamic resource (below `min_count` free or busy) that a
    provider is about to make; False when there are enough, or `max_count` live ones."""
    now = utcnow()
    with transaction(engine) as conn:
        _type_lock(conn, type_)
        by_state = dict(
            conn.execute(
                select(R.state, func.count()).where(R.type == type_).group_by(R.state)
            ).all()
        )
        ready = by_state.get("free", 0) + by_state.get("busy", 0)
        if ready >= min_count or sum(by_state.get(st, 0) for st in LIVE) >= max_count:
            return False
        conn.execute(
            insert(R).values(
                type=type_,
                name=name,
                state="cleaning",
                dynamic=True,
                user_data={},
                created_at=now,
                updated_at=now,
                expires_at=now + timedelta(seconds=hold),
            )
        )
    return True


def set_user_data(engine: Engine, type_: str, name: str, data: dict[str, Any]) -> None:
    with transaction(engine) as conn:
        conn.execute(update(R).where(R.type == type_, R.name == name).values(user_data=data))


def mark_free(engine: Engine, type_: str, name: str, data: dict[str, Any]) -> None:
    """A spare that its provider has made is ready."""
    now = utcnow()
    with transaction(engine) as conn:
        conn.execute(
            update(R)
            .where(R.type == type_, R.name == name, R.state == "cleaning")
            .values(state="free", user_data=data, updated_at=now, expires_at=None)
        )
        single.notify(conn, type_)


def heartbeat(engine: Engine, lease_id: str, ttl: float) -> datetime:
    """Extend the lease by `ttl` from now; the new expiry. `LeaseLost` if it is not held."""
    one: AbstractContextManager[Connection] = (
        single.autocommit(engine) if engine.dialect.name == "postgresql" else transaction(engine)
    )
    with one as conn:  # one statement: atomic by itself on PostgreSQL
        now = _clock(conn)
        row = conn.execute(
            update(R)
            .where(R.lease_id == lease_id, R.state == "busy")
            .values(heartbeat_at=now, expires_at=_plus(now, ttl))
            .returning(R.expires_at)
        ).one_or_none()
    if row is None:
        raise LeaseLost(f"lease {lease_id} is not held (released or expired)")
    expires: datetime = row.expires_at
    return expires


def release(engine: Engine, lease_id: str, dirty: bool = True) -> bool:
    """End the lease: the resource turns dirty (or free); False when it was not held."""
    if engine.dialect.name == "postgresql":
        with single.autocommit(engine) as conn:
            return single.release(conn, lease_id, "dirty" if dirty else "free")
    with transaction(engine) as conn:
        now = _clock(conn)
        done = conn.execute(
            update(R)
            .where(R.lease_id == lease_id, R.state == "busy")
            .values(
                state="dirty" if dirty else "free",
                owner=None,
                lease_id=None,
                expires_at=None,
                updated_at=now,
            )
        ).rowcount
        if done:
            _end_intervals(conn, [lease_id], now, "released")
    return bool(done)


def _end_intervals(conn: Connection, lease_ids: list[str], now: Any, how: str) -> None:
    conn.execute(
        update(I)
        .where(I.lease_id.in_(lease_ids), I.released_at.is_(None))
        .values(released_at=now, ended=how)
    )


def reap(engine: Engine, limit: int = 1000) -> list[str]:
    """Expired busy leases turn dirty; expired `cleaning` (a dead cleaner) turns dirty again.
    The names of the resources taken back."""
    with transaction(engine) as conn:
        now = _clock(conn)
        expired = (
            select(R.id, R.name, R.lease_id)
            .where(R.state.in_(("busy", "cleaning")), R.expires_at < now)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = conn.execute(expired).all()
        if not rows:
            return []
        conn.execute(
            update(R)
            .where(R.id.in_([r.id for r in rows]))
            .values(state="dirty", owner=None, lease_id=None, expires_at=None, updated_at=now)
        )
        leases = [r.lease_id for r in rows if r.lease_id is not None]
        if leases:
            _end_intervals(conn, leases, now, "expired")
    return [r.name for r in rows]


def purge_tombstones(engine: Engine, older_than: float, limit: int = 1000) -> int:
    """Delete up to `limit` tombstone rows last changed over `older_than` seconds ago; how
    many. Their lease intervals stay: the record of who held what outlives the row."""
    with transaction(engine) as conn:
        cutoff = _plus(_clock(conn), -older_than)
        old = (
            select(R.id)
            .where(R.state == "tombstone", R.updated_at < cutoff)
            .order_by(R.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list(conn.execute(old).scalars())
        if ids:
            conn.execute(delete(R).where(R.id.in_(ids), R.state == "tombstone"))
    return len(ids)


def claim_for_cleaning(
    engine: Engine, hold: float, lifespans: dict[str, float], limit: int = 10
) -> list[Claimed]:
    """Take dirty resources, and free dynamic ones past their type's lifespan, for cleaning."""
    now = utcnow()
    old = [
        and_(
            R.type == t,
            R.dynamic.is_(True),
            R.state == "free",
            R.created_at < now - timedelta(seconds=s),
        )
        for t, s in lifespans.items()
    ]
    due = (
        select(R.id, R.type, R.name, R.dynamic, R.user_data)
        .where(or_(R.state == "dirty", *old))
        .order_by(R.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with transaction(engine) as conn:
        rows = conn.execute(due).all()
        if rows:
            conn.execute(
                update(R)
                .where(R.id.in_([r.id for r in rows]))
                .values(state="cleaning", updated_at=now, expires_at=now + timedelta(seconds=hold))
            )
    return [Claimed(r.id, r.type, r.name, r.dynamic, r.user_data or {}) for r in rows]


def finish_cleaning(engine: Engine, resource_id: int, type_: str, state: str) -> None:
    """A cleaned resource turns free, a deleted one `tombstone`."""
    now = utcnow()
    with transaction(engine) as conn:
        conn.execute(
            update(R)
            .where(R.id == resource_id, R.state == "cleaning")
            .values(state=state, updated_at=now, expires_at=None)
        )
        if state == "free":
            single.notify(conn, type_)


def sync_static(engine: Engine, resources: dict[str, list[str]]) -> None:
    """Static resources as configured: missing ones are added free; free (or dirty) ones no
    longer configured turn `tombstone`, and configured tombstones come back."""
    now = utcnow()
    with transaction(engine) as conn:
        _type_lock(conn, " static")  # servers starting at once add each resource once
        have = {
            (r.type, r.name): r.state
            for r in conn.execute(select(R.type, R.name, R.state).where(R.dynamic.is_(False)))
        }
        wanted = {(t, n) for t, names in resources.items() for n in names}
        new = [
            {
                "type": t,
                "name": n,
                "state": "free",
                "user_data": {},
                "created_at": now,
                "updated_at": now,
            }
            for t, n in sorted(wanted - have.keys())
        ]
        if new:
            conn.execute(insert(R), new)
        for (t, n), state in have.items():
            if (t, n) in wanted and state == "tombstone":
                _set_state(conn, t, n, "free", now)
            elif (t, n) not in wanted and state in ("free", "dirty"):
                _set_state(conn, t, n, "tombstone", now)


def _set_state(conn: Connection, type_: str, name: str, state: str, now: datetime) -> None:
    conn.execute(
        update(R).where(R.type == type_, R.name == name).values(state=state, updated_at=now)
    )


def live_names(engine: Engine) -> set[str]:
    """Names of resources that are not tombstones: what the janitor must keep."""
    with engine.connect() as conn:
        return set(conn.execute(select(R.name).where(R.state.in_(LIVE))).scalars())


def counts(engine: Engine) -> dict[tuple[str, str], int]:
    """Resources by (type, state)."""
    with engine.connect() as conn:
        rows = conn.execute(select(R.type, R.state, func.count()).group_by(R.type, R.state))
        return {(t, s): n for t, s, n in rows}


def resources(engine: Engine, type_: str | None = None) -> list[LeaseResource]:
    """Resources (detached rows), by type and id."""
    stmt = select(R).order_by(R.type, R.id)
    if type_ is not None:
        stmt = stmt.where(R.type == type_)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(stmt))


def intervals(engine: Engine, lease_ids: Iterable[str] | None = None) -> list[LeaseInterval]:
    """Recorded leases (detached rows), oldest first."""
    stmt = select(I).order_by(I.id)
    if lease_ids is not None:
        stmt = stmt.where(I.lease_id.in_(list(lease_ids)))
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(stmt))
