"""Bulk loading of generated rows for the benches: SQLite `executemany`, PostgreSQL `COPY`."""

from __future__ import annotations

import secrets
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from foredeck.db import make_engine, migrate

Tables = Mapping[str, tuple[Sequence[str], Iterable[Sequence[Any]]]]
"""Table -> (its columns, its rows)."""


def sqlite_value(value: Any) -> Any:
    """What the models' types store on SQLite: naive UTC text for times, ISO dates."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def insert_sqlite(path: Path, tables: Tables, *, analyze: bool = False) -> None:
    """Insert every table's rows in one transaction; `analyze` gives the planner statistics."""
    conn = sqlite3.connect(path)
    try:
        for table, (columns, rows) in tables.items():
            marks = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            conn.executemany(sql, ([sqlite_value(v) for v in row] for row in rows))
        conn.commit()
        if analyze:
            conn.execute("ANALYZE")
            conn.commit()
    finally:
        conn.close()


def copy_pg(engine: Engine, tables: Tables, *, then: Sequence[str] = ()) -> None:
    """`COPY` every table's rows, run the statements `then`, and ANALYZE."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, (columns, rows) in tables.items():
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        for statement in then:
            cursor.execute(statement)
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


@contextmanager
def sqlite_database() -> Iterator[tuple[Path, str, Engine]]:
    """A migrated SQLite file in a temporary directory: (path, URL, engine)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        migrate(engine)
        try:
            yield path, url, engine
        finally:
            engine.dispose()


@contextmanager
def pg_schema(pg_url: str) -> Iterator[tuple[str, Engine]]:
    """A migrated temporary schema of the PostgreSQL database at `pg_url`: (URL, engine);
    dropped afterwards."""
    schema = f"bench_{secrets.token_hex(4)}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url_obj = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
        url = url_obj.render_as_string(hide_password=False)
        engine = make_engine(url)
        migrate(engine)
        try:
            yield url, engine
        finally:
            engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
