"""One bump of a branch at a time: the file lock (SQLite) and PostgreSQL's advisory lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from foredeck.cd_pr.lock import BumpLock, BumpLockTimeout, FileLock, PostgresLock, lock_for
from tests.db.fixtures import Database


async def exclusive(lock: BumpLock, other: BumpLock) -> None:
    """While `lock` holds a key, `other` waits for it (and times out), not for another key."""
    order: list[str] = []
    async with lock.hold("acme/manifests:foredeck/bump/app"):
        waiter = asyncio.create_task(_take(other, "acme/manifests:foredeck/bump/app", order))
        async with other.hold("acme/manifests:foredeck/bump/web"):
            order.append("other key")
        await asyncio.sleep(0.3)
        assert not waiter.done()
        order.append("released")
    await asyncio.wait_for(waiter, 10)
    assert order == ["other key", "released", "taken"]


async def _take(lock: BumpLock, key: str, order: list[str]) -> None:
    async with lock.hold(key):
        order.append("taken")


async def test_the_file_lock_is_exclusive_per_key(tmp_path: Path) -> None:
    await exclusive(FileLock(tmp_path), FileLock(tmp_path))
    short = FileLock(tmp_path, timeout=0.2)
    async with FileLock(tmp_path).hold("k"):
        with pytest.raises(BumpLockTimeout, match="another bump of k is running"):
            async with short.hold("k"):
                pass


async def test_the_postgres_lock_is_exclusive_per_key(pg_db: Database) -> None:
    assert isinstance(lock_for(pg_db.engine), PostgresLock)
    await exclusive(PostgresLock(pg_db.engine), PostgresLock(pg_db.engine))


def test_sqlite_locks_live_beside_the_database(sqlite_db: Database) -> None:
    lock = lock_for(sqlite_db.engine)
    assert isinstance(lock, FileLock)
    database = sqlite_db.url.removeprefix("sqlite:///")
    assert lock.directory == Path(database).parent / ".foredeck-bump-locks"
