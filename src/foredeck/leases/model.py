"""What the lease service hands out and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Lease:
    """A held resource: `id` is the lease (the holder's proof), `name` the resource."""

    id: str
    type: str
    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime
    user_data: dict[str, Any] = field(default_factory=dict)
    ttl: float = 0.0
    """Seconds each heartbeat extends the lease by."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "owner": self.owner,
            "acquired_at": self.acquired_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "user_data": self.user_data,
        }


class LeaseError(Exception):
    """A lease operation that cannot be done; the message says why."""


class UnknownType(LeaseError):
    pass


class NoFreeResource(LeaseError):
    """No resource of the type became free within the wait."""


class LeaseLost(LeaseError):
    """The lease is not held any more: released, or expired and taken back by the reaper."""
