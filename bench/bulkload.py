"""Bulk loading of generated rows for the benches: SQLite `executemany`, PostgreSQL `COPY`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

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
