"""Periodic runs in the `jobs` table: the latest run of each periodic, and the decision lock.

The latest run is read from the database, never remembered, so that a restarted scheduler and
a second one in another process take the same decisions as the one that created the rows.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from foredeck.db.models import Job
from foredeck.periodics.schedule import LastRun

ADVISORY_LOCK_KEY = 0x666F7265_70657231  # "foreper1": one scheduler decides at a time (PG)
NAMES_PER_QUERY = 500


def latest_runs(conn: Session | Connection, names: Collection[str]) -> dict[str, LastRun]:
    """The most recent periodic run (highest id) of each of `names` that ever ran."""
    found: dict[str, LastRun] = {}
    ordered = sorted(names)
    for start in range(0, len(ordered), NAMES_PER_QUERY):
        chunk = ordered[start : start + NAMES_PER_QUERY]
        newest = (
            select(func.max(Job.id))
            .where(Job.type == "periodic", Job.name.in_(chunk))
            .group_by(Job.name)
            .scalar_subquery()
        )
        stmt = select(Job.id, Job.name, Job.state, Job.created_at, Job.finished_at).where(
            Job.id.in_(newest)
        )
        for row in conn.execute(stmt):
            found[row.name] = LastRun(row.id, row.state, row.created_at, row.finished_at)
    return found


def lock_decisions(session: Session) -> None:
    """Serialise periodic decisions across processes for this transaction.

    PostgreSQL: a transaction-scoped advisory lock, so that a second scheduler re-reads the
    latest runs only after the first committed. SQLite needs nothing: `BEGIN IMMEDIATE`
    already makes every write transaction exclusive.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
