"""One bump of a branch at a time: two bumps at once would each open a pull request.

On PostgreSQL, a session-level advisory lock on a connection held for the bump (every
controller on any machine shares it; a crashed holder's connection closes and frees it). On
SQLite, whose database lives on one machine, an `flock` on a file beside it (freed by the
kernel when the holder dies). Both wait, up to `timeout`, rather than skip: the later bump
then sees the pull request the earlier one opened and updates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, text

LOCK_TIMEOUT = 600.0
_POLL = 0.05


class BumpLockTimeout(TimeoutError):
    """Another bump of the same branch held the lock for longer than the timeout."""


class BumpLock(Protocol):
    def hold(self, key: str) -> contextlib.AbstractAsyncContextManager[None]: ...


def _key_int(key: str) -> int:
    """A signed 64-bit number for `pg_advisory_lock`, from the key."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class FileLock:
    """`flock` on `<directory>/bump-<hash>.lock`, one file per key."""

    def __init__(self, directory: Path, timeout: float = LOCK_TIMEOUT) -> None:
        self.directory = directory
        self.timeout = timeout

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        fd = os.open(self.directory / f"bump-{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise BumpLockTimeout(f"another bump of {key} is running") from None
                    await asyncio.sleep(_POLL)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock


class PostgresLock:
    """`pg_advisory_lock` on a connection of its own, held for the bump."""

    def __init__(self, engine: Engine, timeout: float = LOCK_TIMEOUT) -> None:
        self.engine = engine
        self.timeout = timeout

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        number = _key_int(f"foredeck-bump:{key}")
        conn = await asyncio.to_thread(self.engine.connect)
        try:
            deadline = time.monotonic() + self.timeout
            query = text("SELECT pg_try_advisory_lock(:k)")
            while not await asyncio.to_thread(lambda: conn.execute(query, {"k": number}).scalar()):
                await asyncio.to_thread(conn.rollback)
                if time.monotonic() >= deadline:
                    raise BumpLockTimeout(f"another bump of {key} is running")
                await asyncio.sleep(_POLL * 4)
            await asyncio.to_thread(conn.commit)  # the lock is the session's, not the transaction's
            try:
                yield
            finally:
                unlock = text("SELECT pg_advisory_unlock(:k)")
                await asyncio.to_thread(lambda: conn.execute(unlock, {"k": number}))
                await asyncio.to_thread(conn.commit)
        finally:
            await asyncio.to_thread(conn.close)


def lock_for(engine: Engine | None, directory: Path | None = None) -> BumpLock:
    """The lock for foredeck's database: PostgreSQL's advisory lock, else a file lock beside an
    SQLite file (or in `directory`, or the temporary directory)."""
    if engine is not None and engine.dialect.name == "postgresql":
        return PostgresLock(engine)
    if (
        directory is None
        and engine is not None
        and engine.url.database not in (None, "", ":memory:")
    ):
        directory = Path(str(engine.url.database)).absolute().parent / ".foredeck-bump-locks"
    return FileLock(directory or Path(tempfile.gettempdir()) / "foredeck-bump-locks")
