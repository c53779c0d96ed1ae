"""Schema migrations, applied programmatically at start-up (no `alembic.ini`).

Several processes may start at once on the same database: on PostgreSQL an advisory lock
serialises them, on SQLite the `BEGIN IMMEDIATE` transaction does. The whole upgrade runs in one
transaction (both backends have transactional DDL), so a crash leaves the old schema intact.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError

from foredeck.db.engine import error_line, make_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "foredeck_alembic_version"

log = logging.getLogger(__name__)
_PG_LOCK_KEY = 0x0F0DEC  # arbitrary, constant: "foredeck migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def migrate(target: str | URL | Engine, revision: str = "head") -> None:
    """Upgrade the database at `target` (a URL or an engine) to `revision`.

    Alembic's own INFO lines ("Context impl SQLiteImpl", "Will assume transactional DDL") are
    kept out of every start-up's log; one line says when the schema actually changed.
    """
    engine = target if isinstance(target, Engine) else make_engine(target)
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(max(logging.WARNING, level))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            before = _revision(conn)
            command.upgrade(alembic_config(conn), revision)
            after = _revision(conn)
    finally:
        alembic_log.setLevel(level)
        if not isinstance(target, Engine):
            engine.dispose()
    if after != before:
        log.info("database schema migrated from %s to %s", before or "empty", after)


def _revision(conn: Connection) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


class DatabaseUnavailable(RuntimeError):
    """The database cannot be opened or migrated at start; the message is one line."""


def open_database(url: str | URL) -> Engine:
    """An engine for `url`, migrated: what every foredeck process does first.

    A database that cannot be reached, opened or written raises `DatabaseUnavailable` with a
    one-line reason (the URL without its password), for a start that fails cleanly.
    """
    where = _printable(url)
    try:
        engine = make_engine(url)
    except ArgumentError as exc:
        raise DatabaseUnavailable(f"database {where}: invalid URL: {error_line(exc)}") from None
    except OSError as exc:  # the folder of a SQLite file cannot be made
        raise DatabaseUnavailable(f"database {where}: {exc.strerror or exc}") from None
    try:
        migrate(engine)
    except DBAPIError as exc:
        engine.dispose()
        raise DatabaseUnavailable(f"database {where}: {error_line(exc)}") from None
    except BaseException:
        engine.dispose()
        raise
    return engine


def _printable(url: str | URL) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(database_url)"  # unparsable: it might hold a password anywhere


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return _revision(conn)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
