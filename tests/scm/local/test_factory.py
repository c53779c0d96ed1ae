"""`scm_client_factory` picks the provider from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from foredeck.scm.factory import scm_client_factory
from foredeck.scm.github import GitHubClient
from foredeck.scm.local import LocalScm
from foredeck.scm.settings import GitHubSettings
from foredeck.settings import Settings
from tests.db.fixtures import Database


async def test_local_provider_makes_local_clients(sqlite_db: Database, root: Path) -> None:
    settings = Settings(
        database_url=sqlite_db.url,
        scm={"provider": "local", "local_root": str(root), "bot_login": "ci-bot"},  # type: ignore[arg-type]
    )
    factory = scm_client_factory(settings, sqlite_db.engine)
    first, second = factory(), factory()
    assert isinstance(first, LocalScm) and first is not second
    assert first.repos.root == root.absolute() and first.bot_login == "ci-bot"
    await first.close()
    await second.close()


async def test_github_provider_makes_github_clients(sqlite_db: Database) -> None:
    settings = Settings(github=GitHubSettings(base_url="http://127.0.0.1:9", token="t0ken"))
    client = scm_client_factory(settings, sqlite_db.engine)()
    assert isinstance(client, GitHubClient) and client.base_url == "http://127.0.0.1:9"
    await client.close()


def test_github_provider_without_credentials_fails_at_once(sqlite_db: Database) -> None:
    with pytest.raises(ValueError):
        scm_client_factory(Settings(), sqlite_db.engine)
