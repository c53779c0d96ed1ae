"""Engines and sessions: SQLite (embedded default) or PostgreSQL, chosen by URL.

SQLite is set up for a server: WAL (readers never block the writer), `synchronous=NORMAL` (no
fsync per commit; a power loss can drop the last commits but never corrupts the file),
`foreign_keys=ON`, and a `busy_timeout` so that writers in other processes wait instead of
failing. Transactions start with `BEGIN IMMEDIATE`: a deferred transaction that reads and then
writes fails at once with SQLITE_BUSY when another writer committed in between, which a busy
timeout cannot help. Read-only callers that want deferred transactions use `read_only(engine)`.
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from foredeck.extras import require

SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "foredeck_sqlite_begin"


def normalize_url(url: str | URL) -> URL:
    """Parse `url`; a bare `postgresql://` URL gets psycopg 3 (the `postgres` extra)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get their parent directory created and the pragmas."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.get_driver_name() == "psycopg":
            require("postgres", "psycopg", "a postgresql:// database")
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def error_line(exc: BaseException) -> str:
    """What went wrong, in one line for a log or a start error: the driver's own message of a
    database error, without the SQL and parameters SQLAlchemy appends (which may hold data)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class FairLock:
    """A first-come, first-served lock.

    `threading.Lock` is not fair: a thread that releases and re-acquires in a loop (the event
    worker, batch after batch) can starve another that waits (the hook's log writer), and then a
    webhook waits for its 2xx as long as the worker has work. Here each waiter draws a ticket and
    is served in order.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next_ticket = 0
        self._serving = 0

    def acquire(self) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileWriteLock(FairLock):
    """A `FairLock` that also holds an exclusive `flock` on a file beside the database while it
    is held, so that writers in other processes (the event worker's child process of
    `serve --role all`) queue in the kernel, which hands over at once, instead of polling in
    SQLite's busy handler: it sleeps up to 100 ms a step, and the hook's answers waited that long.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        super().acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            super().release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            super().release()


_write_locks: dict[str, FairLock] = {}
_locks_by_database: dict[str, FairLock] = {}  # as written in URLs: saves a realpath per call
_write_locks_guard = threading.Lock()


def write_lock(engine: Engine) -> AbstractContextManager[object]:
    """Serialise write transactions on one SQLite file (no-op on PostgreSQL).

    SQLite allows one writer at a time; a second one waits in SQLite's busy handler, which sleeps
    in steps of up to 100 ms. Threads of one process (the hook's log writer and the event worker)
    therefore queue on a lock instead, which hands over at once, and processes that take it too
    queue on a lock file beside the database (`FileWriteLock`). Other writers still wait on the
    busy timeout. Wrap the whole transaction: `with write_lock(engine), engine.begin(): ...`.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    database = engine.url.database or ":memory:"
    lock = _locks_by_database.get(database)
    if lock is None:
        key = database if database == ":memory:" else os.path.realpath(database)
        with _write_locks_guard:
            lock = _write_locks.get(key)
            if lock is None:
                on_disk = database != ":memory:" and not database.startswith("file:")
                lock = FileWriteLock(f"{key}-writer.lock") if on_disk else FairLock()
                _write_locks[key] = lock
            if os.path.isabs(database):  # a relative path may mean another file after a chdir
                _locks_by_database[database] = lock
    return lock


def read_only(engine: Engine) -> Engine:
    """`engine` with deferred (shared-lock) transactions on SQLite, for readers such as dashboards.

    Do not write through it: on SQLite a deferred transaction that writes may fail with SQLITE_BUSY.
    """
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit (`expire_on_commit=False`)."""
    return sessionmaker(engine, expire_on_commit=False)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself instead of the driver's implicit one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # New files only (ignored once the database exists): webhook payloads are ~25 KB, and
        # 16 KiB pages make their overflow chains 4x shorter (commits measured 1.3x faster).
        cursor.execute("PRAGMA page_size=16384")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
    conn.exec_driver_sql("BEGIN DEFERRED" if mode == "DEFERRED" else "BEGIN IMMEDIATE")
