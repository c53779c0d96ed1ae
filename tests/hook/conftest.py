from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from tests.db.fixtures import Database, db, pg_db, pg_schema_url, sqlite_db
from tests.hook.helpers import make_settings
from tests.kit.webhooks import asgi_client, hook_app

__all__ = ["db", "pg_db", "pg_schema_url", "sqlite_db"]


@pytest.fixture
def app(db: Database) -> Iterator[FastAPI]:
    """The hook app on each database backend."""
    with hook_app(make_settings(db), db) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c
