"""What a job held: its leases from `lease_intervals`, with the time held and an estimated cost.

A job's leases are owned by `job_owner(job_id)`, so the API and the run page read them from the
intervals the service records anyway, whichever controller ran the job (or died running it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from foredeck.db.models import LeaseInterval
from foredeck.db.types import utcnow


def job_owner(job_id: int) -> str:
    """The owner the controller gives a job's leases."""
    return f"job/{job_id}"


@dataclass(frozen=True)
class HeldLease:
    """One lease a job held (or holds: `released_at` None), never its user data."""

    type: str
    name: str
    acquired_at: datetime
    released_at: datetime | None
    ended: str | None
    held_seconds: float
    cost: float | None
    """`held_seconds` at the type's `leases.prices` per hour; None without a price."""

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "acquired_at": self.acquired_at.isoformat(),
            "released_at": self.released_at.isoformat() if self.released_at else None,
            "ended": self.ended,
            "held_seconds": round(self.held_seconds, 3),
            "cost": self.cost,
        }


def held(
    interval: LeaseInterval, prices: Mapping[str, float], now: datetime | None = None
) -> HeldLease:
    end = interval.released_at or now or utcnow()
    seconds = max(0.0, (end - interval.acquired_at).total_seconds())
    price = prices.get(interval.type)
    return HeldLease(
        type=interval.type,
        name=interval.name,
        acquired_at=interval.acquired_at,
        released_at=interval.released_at,
        ended=interval.ended,
        held_seconds=seconds,
        cost=None if price is None else round(price * seconds / 3600, 4),
    )


def job_leases(session: Session, job_id: int, prices: Mapping[str, float]) -> list[HeldLease]:
    """The leases of job `job_id`, first acquired first."""
    stmt = (
        select(LeaseInterval)
        .where(LeaseInterval.owner == job_owner(job_id))
        .order_by(LeaseInterval.acquired_at, LeaseInterval.id)
    )
    now = utcnow()
    return [held(row, prices, now) for row in session.scalars(stmt)]
