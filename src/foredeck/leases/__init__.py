"""Leases (Boskos-like): typed resources that jobs hold for a TTL they keep by heartbeats.

`LeaseService` is what other components use; providers make dynamic resources, the janitor
deletes leaked ones. See docs/leases.md.
"""

from foredeck.leases.janitor import JanitorAction, LeaseKeeper, sweep
from foredeck.leases.model import Lease, LeaseError, LeaseLost, NoFreeResource, UnknownType
from foredeck.leases.provider import Provider, ProviderError
from foredeck.leases.service import CleanReport, LeaseService

__all__ = [
    "CleanReport",
    "JanitorAction",
    "Lease",
    "LeaseError",
    "LeaseKeeper",
    "LeaseLost",
    "LeaseService",
    "NoFreeResource",
    "Provider",
    "ProviderError",
    "UnknownType",
    "sweep",
]
