"""The lease service on SQLite and PostgreSQL: states, heartbeats, reaping, cleaning, dynamic
types and the janitor, with a provider that keeps its resources in memory."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from foredeck.db.models import LeaseResource
from foredeck.db.types import utcnow
from foredeck.leases import (
    LeaseError,
    LeaseLost,
    LeaseService,
    NoFreeResource,
    UnknownType,
    store,
    sweep,
)
from foredeck.settings import LeaseSettings
from tests.db.fixtures import Database
from tests.leases.fakes import FakeProvider


def settings(**types: dict[str, Any]) -> LeaseSettings:
    return LeaseSettings.model_validate(
        {"prefix": "fdt", "types": [{"name": n, **t} for n, t in types.items()]}
    )


def static_service(db: Database, names: list[str]) -> LeaseService:
    service = LeaseService(db.engine, settings(slot={"resources": names}))
    service.sync()
    return service


def dynamic_service(db: Database, fake: FakeProvider, **kind: Any) -> LeaseService:
    config = settings(
        vm={"provider": {"kind": "postgres-database", "url": "postgresql://x/y"}, **kind}
    )
    return LeaseService(db.engine, config, providers={"vm": fake})


def states(db: Database) -> dict[str, str]:
    return {r.name: r.state for r in store.resources(db.engine)}


def expire_all(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(LeaseResource).values(expires_at=utcnow()))
    time.sleep(0.01)


def test_acquire_gives_each_free_resource_once_then_refuses(db: Database) -> None:
    service = static_service(db, ["a", "b"])
    first = service.acquire("slot", "job-1", ttl=60)
    second = service.acquire("slot", "job-2", ttl=60)
    assert {first.name, second.name} == {"a", "b"}
    assert states(db) == {"a": "busy", "b": "busy"}
    with pytest.raises(NoFreeResource, match="no free slot"):
        service.acquire("slot", "job-3", ttl=60, wait=0.1)


def test_release_dirty_then_cleaned_to_free_and_intervals_recorded(db: Database) -> None:
    service = static_service(db, ["a"])
    lease = service.acquire("slot", "job-1", ttl=60)
    assert service.release(lease) is True
    assert service.release(lease) is False  # a second release is no error
    assert states(db) == {"a": "dirty"}
    report = service.maintain()
    assert report.cleaned == ["a"]
    assert states(db) == {"a": "free"}
    (interval,) = store.intervals(db.engine)
    assert (interval.lease_id, interval.owner, interval.ended) == (lease.id, "job-1", "released")
    assert interval.released_at is not None and interval.released_at >= interval.acquired_at


def test_release_clean_returns_the_resource_free_at_once(db: Database) -> None:
    service = static_service(db, ["a"])
    service.release(service.acquire("slot", "job-1", ttl=60), dirty=False)
    assert states(db) == {"a": "free"}


def test_waiting_acquire_gets_a_resource_released_meanwhile(db: Database) -> None:
    import threading

    service = static_service(db, ["a"])
    lease = service.acquire("slot", "job-1", ttl=60)
    threading.Timer(0.2, service.release, args=(lease,), kwargs={"dirty": False}).start()
    second = service.acquire("slot", "job-2", ttl=60, wait=30)
    assert second.name == "a" and second.owner == "job-2"


def test_heartbeat_extends_and_an_expired_lease_is_reaped_and_lost(db: Database) -> None:
    service = static_service(db, ["a"])
    lease = service.acquire("slot", "job-1", ttl=60)
    later = service.heartbeat(lease, ttl=120)
    assert later > lease.expires_at
    expire_all(db)
    report = service.maintain()
    assert report.reaped == ["a"] and report.cleaned == ["a"]
    with pytest.raises(LeaseLost):
        service.heartbeat(lease)
    assert service.release(lease) is False
    (interval,) = store.intervals(db.engine)
    assert interval.ended == "expired"


def test_bad_requests_are_refused_with_a_reason(db: Database) -> None:
    service = static_service(db, ["a"])
    with pytest.raises(UnknownType, match="'gpu'"):
        service.acquire("gpu", "job", ttl=60)
    with pytest.raises(LeaseError, match="ttl"):
        service.acquire("slot", "job", ttl=0)
    with pytest.raises(LeaseError, match="owner"):
        service.acquire("slot", "", ttl=10)
    with pytest.raises(LeaseError, match="needs a ttl"):
        service.heartbeat("0" * 32)


def test_static_resources_follow_the_settings(db: Database) -> None:
    static_service(db, ["a", "b"])
    busy = static_service(db, ["a", "b"]).acquire("slot", "job", ttl=60)
    static_service(db, ["c"])
    assert states(db) == {"a": "tombstone", "b": "tombstone", "c": "free"} | {busy.name: "busy"}
    assert busy.name == "a"  # still held: it stays busy until released
    static_service(db, ["b", "c"])
    assert states(db)["b"] == "free"


def test_dynamic_resources_are_made_on_demand_up_to_max_and_deleted_when_dirty(
    db: Database,
) -> None:
    fake = FakeProvider()
    service = dynamic_service(db, fake, max_count=2)
    one = service.acquire("vm", "job-1", ttl=60)
    two = service.acquire("vm", "job-2", ttl=60)
    assert one.user_data == {"endpoint": f"fake://{one.name}"}
    assert one.name == f"fdt-{one.id}" and sorted(fake.held) == sorted([one.name, two.name])
    with pytest.raises(NoFreeResource):
        service.acquire("vm", "job-3", ttl=60)
    service.release(one)
    report = service.maintain()
    assert report.deleted == [one.name] and fake.held == {two.name: two.id}
    assert states(db)[one.name] == "tombstone"
    assert service.acquire("vm", "job-3", ttl=60).name not in (one.name, two.name)


def test_a_failed_creation_is_deleted_by_the_cleaner(db: Database) -> None:
    fake = FakeProvider()
    fake.fail_create = True
    service = dynamic_service(db, fake)
    with pytest.raises(Exception, match="quota"):
        service.acquire("vm", "job-1", ttl=60)
    (name,) = fake.held
    assert states(db) == {name: "dirty"}
    service.maintain()
    assert fake.held == {} and states(db) == {name: "tombstone"}


def test_min_count_keeps_spares_and_lifespan_retires_them(db: Database) -> None:
    fake = FakeProvider()
    service = dynamic_service(db, fake, min_count=2, lifespan=0.05)
    made = service.maintain().made
    assert len(made) == 2 and sorted(fake.held) == sorted(made)
    assert all(states(db)[n] == "free" for n in made)
    lease = service.acquire("vm", "job", ttl=60)
    assert lease.name in made  # a spare, not a new one
    time.sleep(0.1)
    report = service.maintain()
    (spare,) = set(made) - {lease.name}
    assert spare in report.deleted and lease.name not in report.deleted
    assert len(report.made) == 1  # one busy + one new spare = min_count


def test_janitor_deletes_what_no_live_resource_names(db: Database) -> None:
    fake = FakeProvider()
    service = dynamic_service(db, fake)
    lease = service.acquire("vm", "job", ttl=60)
    fake.held["fdt-" + "f" * 32] = "leaked"
    dry = sweep(service, dry_run=True)
    assert [(a.name, a.action) for a in dry] == [("fdt-" + "f" * 32, "would delete")]
    assert "fdt-" + "f" * 32 in fake.held
    done = sweep(service)
    assert [(a.name, a.action) for a in done] == [("fdt-" + "f" * 32, "deleted")]
    assert "no live lease" in done[0].reason
    assert fake.list_owned() == [lease.name]


def test_a_lease_is_kept_alive_while_its_resource_is_made(db: Database) -> None:
    """Making a resource may take longer than the TTL: the lease is heartbeat meanwhile, so
    that the reaper does not take it back from under the provider."""
    fake = FakeProvider()
    fake.create_delay = 0.6
    service = dynamic_service(db, fake)
    lease = service.acquire("vm", "job", ttl=0.3)  # heartbeats every 0.1 s while made
    (row,) = store.resources(db.engine)
    assert row.state == "busy" and row.heartbeat_at is not None
    assert row.heartbeat_at > lease.acquired_at
    assert row.expires_at is not None and row.expires_at > lease.expires_at


def test_janitor_reports_a_provider_it_cannot_list(db: Database) -> None:
    class Unreachable(FakeProvider):
        def list_owned(self) -> list[str]:
            raise ConnectionError("cloud unreachable")

    service = dynamic_service(db, Unreachable())
    (action,) = sweep(service)
    assert (action.type, action.action) == ("vm", "failed")
    assert "cannot list: cloud unreachable" in action.reason


def test_tombstones_past_their_retention_are_purged_and_their_intervals_kept(
    db: Database,
) -> None:
    fake = FakeProvider()
    service = dynamic_service(db, fake)
    service.settings.tombstone_retention = 3600
    old = service.acquire("vm", "job-1", ttl=60)
    service.release(old)
    assert service.maintain().deleted == [old.name]
    new = service.acquire("vm", "job-2", ttl=60)
    service.release(new)
    assert service.maintain().purged == 0  # both tombstones are recent
    assert states(db) == {old.name: "tombstone", new.name: "tombstone"}
    two_hours_ago = utcnow() - timedelta(hours=2)
    with db.engine.begin() as conn:
        conn.execute(
            update(LeaseResource)
            .where(LeaseResource.name == old.name)
            .values(updated_at=two_hours_ago)
        )

    report = service.maintain()

    assert report.purged == 1
    assert states(db) == {new.name: "tombstone"}
    assert [i.name for i in store.intervals(db.engine)] == [old.name, new.name]
    assert service.maintain().purged == 0
