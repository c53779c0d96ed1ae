"""`LeaseService`: acquire, heartbeat and release leases; reap, clean and replenish resources.

What other components use. Calls are synchronous, one short transaction each (`leases.store`);
a provider's slow work (making or deleting a cluster) runs outside any transaction, while the
resource's row says who is at it (`busy` with the acquirer's TTL, or `cleaning` with the
settings' `clean_timeout`), so that a process killed mid-way leaves a row the reaper takes back.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Engine

from foredeck.leases import store, wake
from foredeck.leases.model import Lease, LeaseError, NoFreeResource, UnknownType
from foredeck.leases.provider import Provider, make_provider
from foredeck.settings import LeaseSettings, LeaseType

log = logging.getLogger(__name__)

MIN_POLL = 0.02
MAX_POLL = 0.25


@dataclass
class CleanReport:
    """What one pass of the reaper and cleaners did, by resource name."""

    reaped: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    purged: int = 0
    """Tombstone rows deleted (older than `leases.tombstone_retention`)."""


class LeaseService:
    def __init__(
        self,
        engine: Engine,
        settings: LeaseSettings,
        providers: Mapping[str, Provider] | None = None,
    ) -> None:
        """`providers` by type name; by default made from the types' settings when first used."""
        self.engine = engine
        self.settings = settings
        self.types = {t.name: t for t in settings.types}
        self._providers: dict[str, Provider] = dict(providers or {})
        self._lock = threading.Lock()

    def sync(self) -> None:
        """Bring the static resources in line with the settings (at start and on reload)."""
        store.sync_static(
            self.engine, {t.name: t.resources for t in self.types.values() if not t.provider}
        )

    def provider(self, type_: str) -> Provider | None:
        kind = self._type(type_)
        if kind.provider is None:
            return None
        with self._lock:
            if type_ not in self._providers:
                self._providers[type_] = make_provider(kind.provider, self.settings.prefix)
            return self._providers[type_]

    def _type(self, type_: str) -> LeaseType:
        found = self.types.get(type_)
        if found is None:
            raise UnknownType(f"unknown resource type {type_!r}")
        return found

    def acquire(self, type_: str, owner: str, ttl: float, wait: float = 0.0) -> Lease:
        """A lease on a free resource of `type_` for `ttl` seconds (heartbeat to keep it; at
        most the settings' `max_ttl`).

        Waits up to `wait` seconds for one to become free (or be made, for a dynamic type
        below its `max_count`); `NoFreeResource` after that.
        """
        kind = self._type(type_)
        ttl = self._ttl(ttl)
        if not owner or len(owner) > 255:
            raise LeaseError("owner must be 1 to 255 characters")
        deadline = time.monotonic() + max(0.0, wait)
        poll = MIN_POLL
        wakeups = wake.wakeups_for(self.engine) if wait > 0 else None
        while True:
            seen = wakeups.generation if wakeups is not None else 0
            lease = store.try_acquire(self.engine, type_, owner, ttl)
            if lease is None and kind.provider is not None:
                lease = self._make(kind, owner, ttl)
            if lease is not None:
                return replace(lease, ttl=ttl)
            left = deadline - time.monotonic()
            if left <= 0:
                raise NoFreeResource(f"no free {type_} resource within {wait:g}s")
            assert wakeups is not None
            # Woken by a release (any process, `leases.wake`); polls in case one was missed.
            wakeups.wait(seen, min(left, poll * random.uniform(0.5, 1.0)))
            poll = min(poll * 1.5, MAX_POLL)

    def _make(self, kind: LeaseType, owner: str, ttl: float) -> Lease | None:
        provider = self.provider(kind.name)
        assert provider is not None
        lease_id = store.new_lease_id()
        name = provider.name_for(lease_id)
        lease = store.insert_dynamic(
            self.engine, kind.name, name, lease_id, owner, ttl, kind.max_count
        )
        if lease is None:
            return None
        try:
            with self._kept(lease_id, ttl):
                data = provider.create(name, lease_id)
        except Exception:
            # The row stays: releasing it dirty sends it to a cleaner, which deletes it.
            store.release(self.engine, lease_id, dirty=True)
            raise
        store.set_user_data(self.engine, kind.name, name, data)
        return replace(lease, user_data=data)

    @contextmanager
    def _kept(self, lease_id: str, ttl: float) -> Iterator[None]:
        """Heartbeat the lease while a provider makes its resource (a cluster takes longer
        than a TTL), so that the reaper does not take it back from under the provider."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(ttl / 3):
                try:
                    store.heartbeat(self.engine, lease_id, ttl)
                except Exception as exc:  # lost, or the database is away: stop trying
                    log.warning("heartbeat of lease %s while making it: %s", lease_id, exc)
                    return

        thread = threading.Thread(target=beat, name=f"lease-{lease_id[:8]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def heartbeat(self, lease: Lease | str, ttl: float | None = None) -> datetime:
        """Keep the lease `ttl` (default: the lease's own) more seconds; `LeaseLost` if gone."""
        lease_id = lease if isinstance(lease, str) else lease.id
        if ttl is None:
            if isinstance(lease, str):
                raise LeaseError("heartbeat by id needs a ttl")
            ttl = lease.ttl
        return store.heartbeat(self.engine, lease_id, self._ttl(ttl))

    def _ttl(self, ttl: float) -> float:
        """`ttl`, cut to the settings' `max_ttl`."""
        if not ttl > 0:
            raise LeaseError("ttl must be a positive number of seconds")
        return min(ttl, self.settings.max_ttl)

    def release(self, lease: Lease | str, dirty: bool = True) -> bool:
        """Give the resource back, dirty (cleaned before its next lease) by default. False when
        the lease was no longer held (already released, or expired), which is no error."""
        done = store.release(self.engine, lease if isinstance(lease, str) else lease.id, dirty)
        if done and not dirty:
            wake.bump(self.engine)
        return done

    def maintain(self) -> CleanReport:
        """One pass: reap expired leases, clean or delete dirty resources, make spares,
        and forget tombstones past their retention."""
        report = CleanReport(reaped=store.reap(self.engine))
        report.purged = store.purge_tombstones(self.engine, self.settings.tombstone_retention)
        lifespans = {t.name: t.lifespan for t in self.types.values() if t.lifespan}
        while True:
            claimed = store.claim_for_cleaning(self.engine, self.settings.clean_timeout, lifespans)
            if not claimed:
                break
            for resource in claimed:
                self._clean(resource, report)
        for kind in self.types.values():
            if kind.provider is not None and kind.min_count:
                self._replenish(kind, report)
        return report

    def _clean(self, resource: store.Claimed, report: CleanReport) -> None:
        try:
            provider = self.provider(resource.type) if resource.type in self.types else None
            if resource.dynamic and provider is not None:
                provider.delete(resource.name)
                store.finish_cleaning(self.engine, resource.id, resource.type, "tombstone")
                report.deleted.append(resource.name)
            elif resource.dynamic:  # its type is gone from the settings: nothing can delete it
                report.failed[resource.name] = f"no provider for type {resource.type!r}"
            else:
                store.finish_cleaning(self.engine, resource.id, resource.type, "free")
                wake.bump(self.engine)
                report.cleaned.append(resource.name)
        except Exception as exc:  # the row expires back to dirty and is tried again
            log.warning("cleaning %s %s failed: %s", resource.type, resource.name, exc)
            report.failed[resource.name] = str(exc)

    def _replenish(self, kind: LeaseType, report: CleanReport) -> None:
        provider = self.provider(kind.name)
        assert provider is not None
        hold = self.settings.clean_timeout
        while True:
            lease_id = store.new_lease_id()
            name = provider.name_for(lease_id)
            if not store.insert_spare(
                self.engine, kind.name, name, kind.min_count, kind.max_count, hold
            ):
                return
            try:
                data = provider.create(name, lease_id)
            except Exception as exc:
                report.failed[name] = str(exc)
                return  # the `cleaning` row expires to dirty, and a cleaner deletes the rest
            store.mark_free(self.engine, kind.name, name, data)
            report.made.append(name)
