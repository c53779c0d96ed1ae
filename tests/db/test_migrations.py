from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.orm import Session

from foredeck.db import Base, Job, make_engine, migrate, normalize_url
from foredeck.db.migrate import VERSION_TABLE, alembic_config, current_revision, head_revision
from foredeck.db.models import LeaseInterval
from foredeck.db.types import UTCDateTime
from foredeck.leases.held import job_leases
from tests.db.fixtures import Database, create_schema, drop_schema, schema_url, url_string


def _schema_diff(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    return [d for d in diff if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)]


def test_migrations_create_exactly_the_models(db: Database) -> None:
    assert current_revision(db.engine) == head_revision()
    assert _schema_diff(db) == []
    tables = set(inspect(db.engine).get_table_names())
    assert {"events", "jobs", VERSION_TABLE} <= tables


def test_migrate_is_idempotent(db: Database) -> None:
    migrate(db.engine)
    migrate(db.url)
    assert current_revision(db.engine) == head_revision()


def test_migrate_fresh_postgres_schema_and_downgrade() -> None:
    schema = create_schema("fdm")
    try:
        url = url_string(schema_url(schema))
        engine = make_engine(url)
        assert current_revision(engine) is None
        migrate(url)
        assert current_revision(engine) == head_revision()
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) == {VERSION_TABLE}
        engine.dispose()
    finally:
        drop_schema(schema)


def test_concurrent_migrations_from_two_processes(tmp_path: Path) -> None:
    """Two servers starting at once on one SQLite file must both succeed."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = f"from foredeck.db import migrate; migrate({url!r})"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert current_revision(make_engine(url)) == head_revision()


def test_sqlite_pragmas_and_directory_creation(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        busy_timeout = conn.execute(text("PRAGMA busy_timeout")).scalar()
        assert busy_timeout is not None and busy_timeout >= 5000
    assert (tmp_path / "nested" / "dir" / "x.db").exists()


def test_bare_postgresql_url_gets_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_datetimes_are_aware_utc_on_both_backends(db: Database) -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2024, 1, 1), db.engine.dialect)
    plus_two = timezone(timedelta(hours=2))
    when = datetime(2024, 5, 6, 9, 8, 9, 123456, tzinfo=plus_two)
    with db.engine.begin() as conn:
        conn.execute(
            insert(Job).values(
                name="j",
                type="periodic",
                state="triggered",
                pulls=[],
                extra_refs=[],
                job_config={},
                created_at=when,
            )
        )
        back = conn.execute(select(Job.created_at)).scalar_one()
    assert back == when
    assert back.tzinfo == UTC
    assert back.hour == 7


def test_start_up_logs_one_line_for_a_migration_and_nothing_from_alembic(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with caplog.at_level("DEBUG"):
        migrate(url)
        migrate(url)  # nothing to do: nothing to say
    assert [r.name for r in caplog.records if r.name.startswith("alembic")] == []
    lines = [r.getMessage() for r in caplog.records if r.name == "foredeck.db.migrate"]
    assert lines == [f"database schema migrated from empty to {head_revision()}"]


def test_0006_indexes_lease_intervals_by_owner_and_keeps_the_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'leases.db'}"
    engine = make_engine(url)
    migrate(engine, "0005")
    at = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        {"lease_id": f"l{i}", "resource_id": 1, "type": "slot", "name": "slot-1"}
        | {"owner": f"job/{i}", "acquired_at": at + timedelta(minutes=i)}
        for i in range(3)
    ]
    with engine.begin() as conn:
        conn.execute(insert(LeaseInterval), rows)

    migrate(engine)

    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("lease_intervals")}
    assert indexes["ix_lease_intervals_owner_acquired"] == ["owner", "acquired_at"]
    with Session(engine) as session:
        assert [h.name for h in job_leases(session, 1, {})] == ["slot-1"]
        query = select(LeaseInterval.id).where(LeaseInterval.owner == "job/1")
        query = query.order_by(LeaseInterval.acquired_at)
        compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
        plan = " ".join(
            str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
        )
    assert "ix_lease_intervals_owner_acquired" in plan  # read by owner, not a table scan
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0005")
    names = {i["name"] for i in inspect(engine).get_indexes("lease_intervals")}
    assert "ix_lease_intervals_owner_acquired" not in names
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LeaseInterval)).scalar() == 3
    engine.dispose()
