"""Database fixtures for SQLite and PostgreSQL; import them into a conftest to use them.

PostgreSQL tests get a schema of their own (`fd_<random>`, via `search_path` in the URL) for
the whole test session, dropped at the end, so that parallel runs never see each other's rows.
If PostgreSQL is unreachable they fail when `CI` is set and are skipped (with the reason)
otherwise.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, text

from foredeck.db import make_engine, migrate
from tests.conftest import PG_URL

BACKENDS = ["sqlite", "postgresql"]


@dataclass
class Database:
    backend: str
    url: str
    """The full URL (PostgreSQL: with the test schema on the search path)."""
    engine: Engine


def schema_url(schema: str) -> URL:
    return make_engine(PG_URL).url.update_query_dict({"options": f"-csearch_path={schema}"})


def url_string(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def create_schema(prefix: str = "fd") -> str:
    """A new empty schema; skip or fail (under CI) when PostgreSQL is unreachable."""
    admin = make_engine(PG_URL)
    schema = f"{prefix}_{secrets.token_hex(5)}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        reason = f"PostgreSQL at {PG_URL} is unreachable: {type(exc).__name__}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        print(f"\nSKIP: {reason}")
        pytest.skip(reason)
    finally:
        admin.dispose()
    return schema


def drop_schema(schema: str) -> None:
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A migrated schema for this test session."""
    schema = create_schema()
    url = url_string(schema_url(schema))
    try:
        migrate(url)
        yield url
    finally:
        drop_schema(schema)


def _clean_pg(engine: Engine) -> None:
    with engine.begin() as conn:
        tables = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'foredeck_alembic_version'"
            )
        ).scalars()
        names = ", ".join(f'"{name}"' for name in tables)
        if names:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def open_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'foredeck.db'}"
        engine = make_engine(url)
        migrate(engine)
        return Database("sqlite", url, engine)
    url = request.getfixturevalue("pg_schema_url")
    engine = make_engine(url)
    _clean_pg(engine)
    return Database("postgresql", url, engine)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    database = open_database(request.param, request, tmp_path)
    try:
        yield database
    finally:
        database.engine.dispose()


@pytest.fixture
def sqlite_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = open_database("sqlite", request, tmp_path)
    try:
        yield database
    finally:
        database.engine.dispose()


@pytest.fixture
def pg_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = open_database("postgresql", request, tmp_path)
    try:
        yield database
    finally:
        database.engine.dispose()
