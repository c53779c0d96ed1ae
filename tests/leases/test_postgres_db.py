"""The `postgres-database` provider on this machine's PostgreSQL, and the chaos test: holders
SIGKILLed at random points leave nothing behind once the TTL has passed and the reaper,
cleaners and janitor have run once."""

from __future__ import annotations

import json
import random
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from foredeck.db import make_engine
from foredeck.leases import LeaseKeeper, LeaseService, store
from foredeck.leases.postgres_db import PostgresDatabases
from foredeck.settings import LeaseSettings
from tests.child import ROOT, child_env
from tests.conftest import PG_URL
from tests.db.fixtures import create_schema, drop_schema, schema_url, url_string
from tests.kit.wait import wait_for


@pytest.fixture
def databases() -> Iterator[PostgresDatabases]:
    provider = PostgresDatabases(PG_URL, f"fdt{secrets.token_hex(4)}")
    try:
        provider.list_owned()
    except Exception as exc:
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    try:
        yield provider
    finally:
        for name in provider.list_owned():
            provider.delete(name)
        provider.close()


@pytest.fixture
def lease_db() -> Iterator[str]:
    """A migrated schema of the test's own (the chaos children connect to it)."""
    from foredeck.db import migrate

    schema = create_schema("fdl")
    url = url_string(schema_url(schema))
    migrate(url)
    try:
        yield url
    finally:
        drop_schema(schema)


def test_each_lease_gets_its_own_database_and_role(databases: PostgresDatabases) -> None:
    name = databases.name_for("1" * 32)
    data = databases.create(name, "1" * 32)
    assert data["database"] == name and name.startswith(databases.prefix + "_")
    assert data["url"].startswith("postgresql://")  # libpq's form: psql takes it too
    holder = make_engine(data["url"])
    try:
        with holder.begin() as conn:
            conn.execute(text("CREATE TABLE t (x int)"))  # the role owns the database
            assert conn.execute(text("SELECT current_user, current_database()")).one() == (
                name,
                name,
            )
    finally:
        holder.dispose()
    assert databases.list_owned() == [name]
    databases.delete(name)
    assert databases.list_owned() == []
    databases.delete(name)  # already gone: no error


def test_names_not_ours_are_refused(databases: PostgresDatabases) -> None:
    with pytest.raises(ValueError, match="not a name of ours"):
        databases.delete('postgres"; DROP DATABASE x; --')
    with pytest.raises(ValueError, match="not a lease id"):
        databases.name_for("../x")


def holders(url: str, settings: dict[str, Any], *args: object) -> subprocess.Popen[str]:
    """Holders in a child process; the settings (with a password) go in its environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.leases.holder", url, "pgdb", *map(str, args)],
        cwd=ROOT,
        env=child_env() | {"LEASE_SETTINGS": json.dumps(settings)},
        stdout=subprocess.PIPE,
        text=True,
    )


def test_chaos_sigkilled_holders_leave_nothing_unowned(
    lease_db: str, databases: PostgresDatabases
) -> None:
    """50 jobs (threads in 5 processes) lease databases; every process is SIGKILLed at a
    random point after its first lease, while a cleaner runs beside them."""
    ttl = 1.0
    given = {
        "prefix": databases.prefix,
        "types": [
            {
                "name": "pgdb",
                "max_count": 20,
                "provider": {"kind": "postgres-database", "url": PG_URL},
            }
        ],
    }
    settings = LeaseSettings.model_validate(given | {"reap_interval": 0.1, "janitor_interval": 0.5})
    procs = [holders(lease_db, given, f"p{n}", 10, 3, ttl, 0.3, 0.5) for n in range(5)]
    engine = make_engine(lease_db)
    keeper = LeaseKeeper(LeaseService(engine, settings, providers={"pgdb": databases}))
    keeper.start()  # the reaper, cleaners and janitor of a server, on their intervals
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline(), "a holder process died before its first lease"
        for proc in random.sample(procs, len(procs)):
            time.sleep(random.uniform(0, 0.5))
            proc.send_signal(signal.SIGKILL)
        for proc in procs:
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        killed = time.monotonic()
        assert len(store.intervals(engine)) >= 5

        def settled() -> bool:
            states = {r.name: r.state for r in store.resources(engine)}
            live = {n for n, s in states.items() if s != "tombstone"}
            return set(states.values()) <= {"free", "tombstone"} and (
                set(databases.list_owned()) <= live
            )

        # TTL + one janitor interval, plus slack for a busy machine (asserted loosely).
        wait_for("every resource free or deleted", settled, ttl + settings.janitor_interval + 20)
        print(f"settled {time.monotonic() - killed:.2f}s after the last kill")
        assert all(i.released_at is not None for i in store.intervals(engine))
    finally:
        keeper.stop()
        engine.dispose()
