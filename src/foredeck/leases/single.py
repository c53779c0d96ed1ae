"""Acquire and release on PostgreSQL as one statement each, run outside a transaction block.

A data-modifying CTE takes the resource and records the interval (or ends both) in one
statement, which is atomic by itself: in autocommit that is one round trip instead of four
(BEGIN, UPDATE, INSERT, COMMIT). The statements are built once, with bound parameters, so that
SQLAlchemy reuses their cache keys and compiled forms. `bench/lease_throughput.py` measures it.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Interval,
    Select,
    String,
    bindparam,
    func,
    insert,
    select,
    update,
)

from foredeck.db.models import LeaseInterval, LeaseResource
from foredeck.db.types import UTCDateTime
from foredeck.leases.wake import CHANNEL

R = LeaseResource
I = LeaseInterval  # noqa: E741 - the table's alias in queries


def autocommit(engine: Engine) -> Connection:
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _now() -> Any:
    return func.clock_timestamp(type_=UTCDateTime())


@cache
def _acquire_statement() -> Select[Any]:
    now = _now()
    first_free = (
        select(R.id)
        .where(R.type == bindparam("p_type"), R.state == "free")
        .order_by(R.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    taken = (
        update(R)
        .where(R.id == first_free)
        .values(
            state="busy",
            owner=bindparam("p_owner"),
            lease_id=bindparam("p_lease_id"),
            acquired_at=now,
            heartbeat_at=now,
            expires_at=now + bindparam("p_ttl", type_=Interval()),
            updated_at=now,
        )
        .returning(
            R.id, R.type, R.name, R.owner, R.lease_id, R.user_data, R.acquired_at, R.expires_at
        )
        .cte("taken")
    )
    record = (
        insert(I)
        .from_select(
            ["lease_id", "resource_id", "type", "name", "owner", "acquired_at"],
            select(
                taken.c.lease_id,
                taken.c.id,
                taken.c.type,
                taken.c.name,
                taken.c.owner,
                taken.c.acquired_at,
            ),
        )
        .cte("record")
    )
    return select(
        taken.c.id, taken.c.name, taken.c.user_data, taken.c.acquired_at, taken.c.expires_at
    ).add_cte(record)


def acquire(conn: Connection, type_: str, owner: str, lease_id: str, ttl: float) -> Any:
    """Take the first free resource of `type_` for `owner` and record the interval; the row
    (id, name, user_data, acquired_at, expires_at), or None when none is free."""
    params = {
        "p_type": type_,
        "p_owner": owner,
        "p_lease_id": lease_id,
        "p_ttl": timedelta(seconds=ttl),
    }
    return conn.execute(_acquire_statement(), params).one_or_none()


@cache
def _release_statement() -> Select[Any]:
    now = _now()
    freed = (
        update(R)
        .where(R.lease_id == bindparam("p_lease_id"), R.state == "busy")
        .values(state=bindparam("p_state"), owner=None, lease_id=None, expires_at=None)
        .values(updated_at=now)
        .returning(bindparam("p_ended", type_=String()).label("lease_id"), R.type)
        .cte("freed")
    )
    ended = (
        update(I)
        .where(I.lease_id.in_(select(freed.c.lease_id)), I.released_at.is_(None))
        .values(released_at=now, ended="released")
        .cte("ended")
    )
    return select(func.pg_notify(CHANNEL, freed.c.type)).add_cte(ended)


def release(conn: Connection, lease_id: str, state: str) -> bool:
    """End lease `lease_id`: its resource turns `state`, its interval ends `released`, and
    waiting acquirers are notified (`leases.wake`)."""
    params = {"p_lease_id": lease_id, "p_state": state, "p_ended": lease_id}
    return conn.execute(_release_statement(), params).first() is not None


def notify(conn: Connection, type_: str) -> None:
    """Tell acquirers in every process that a `type_` resource may be free (at commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_notify(CHANNEL, type_)))
