"""`provider_from_settings` picks the provider, and the provider answers every SCM question."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from foredeck.scm.github import GitHubClient
from foredeck.scm.github_provider import GitHubProvider
from foredeck.scm.links import DashboardLinks, GitHubLinks
from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.provider import LocalProvider
from foredeck.scm.local.watch import LocalWatcher
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import GitHubSettings, ReporterSettings, ScmSettings, Settings
from tests.db.fixtures import Database
from tests.kit.git import Repo
from tests.scm.local.conftest import ORG, REPO


async def test_local_provider_makes_local_clients(sqlite_db: Database, root: Path) -> None:
    settings = Settings(
        database_url=sqlite_db.url,
        scm=ScmSettings(provider="local", local_root=str(root), bot_login="ci-bot"),
    )
    factory = provider_from_settings(settings, sqlite_db.engine).client_factory()
    first, second = factory(), factory()
    assert isinstance(first, LocalScm) and isinstance(second, LocalScm) and first is not second
    assert first.repos.root == root.absolute() and first.bot_login == "ci-bot"
    await first.close()
    await second.close()


async def test_github_provider_makes_github_clients(sqlite_db: Database) -> None:
    settings = Settings(
        github=GitHubSettings(base_url="http://127.0.0.1:9", token=SecretStr("t0ken"))
    )
    client = provider_from_settings(settings, sqlite_db.engine).client_factory()()
    assert isinstance(client, GitHubClient) and client.base_url == "http://127.0.0.1:9"
    await client.close()


def test_github_provider_without_credentials_fails_at_once(sqlite_db: Database) -> None:
    provider = provider_from_settings(Settings(), sqlite_db.engine)  # building reads nothing
    with pytest.raises(ValueError, match="no credentials configured"):
        provider.client_factory()


def test_bot_login_from_settings() -> None:
    """The login foredeck reports as: `scm.bot_login` for the local provider,
    `plugin_config.trigger.bot_login` on GitHub, else unknown."""
    local = Settings.model_validate({"scm": {"provider": "local", "bot_login": "ci"}})
    github = Settings.model_validate({"plugin_config": {"trigger": {"bot_login": "ci-bot"}}})
    assert provider_from_settings(local).bot_login == "ci"
    assert provider_from_settings(github).bot_login == "ci-bot"
    assert provider_from_settings(Settings()).bot_login is None


def test_github_provider_answers(sqlite_db: Database) -> None:
    provider = provider_from_settings(Settings(), sqlite_db.engine)
    assert isinstance(provider, GitHubProvider) and isinstance(provider.links, GitHubLinks)
    assert provider.pull_ref.format(number=7) == "refs/pull/7/head"
    assert provider.clone_uri(ORG, REPO) == f"https://github.com/{ORG}/{REPO}.git"
    links = provider.links
    assert links.repo(ORG, REPO) == f"https://github.com/{ORG}/{REPO}"
    assert links.pull(ORG, REPO, 7) == f"https://github.com/{ORG}/{REPO}/pull/7"
    assert links.commit(ORG, REPO, "c" * 40) == f"https://github.com/{ORG}/{REPO}/commit/{'c' * 40}"
    assert links.pull_commit(ORG, REPO, 7, "c" * 40).endswith(f"/pull/7/commits/{'c' * 40}")
    assert links.user("alice") == "https://github.com/alice"
    assert provider.watcher() is None and provider.user_comments() is None
    # A GitHub Enterprise Server's pages are on its own host.
    ghes = Settings(github=GitHubSettings(base_url="https://ghe.example/api/v3/"))
    ghes_provider = provider_from_settings(ghes)
    assert ghes_provider.clone_uri(ORG, REPO) == f"https://ghe.example/{ORG}/{REPO}.git"


def test_local_provider_answers(sqlite_db: Database, root: Path, repo: Repo) -> None:
    settings = Settings(
        database_url=sqlite_db.url,
        scm=ScmSettings(provider="local", local_root=str(root)),
        reporter=ReporterSettings(dashboard_url="https://ci.example.org/"),
    )
    provider = provider_from_settings(settings, sqlite_db.engine)
    assert isinstance(provider, LocalProvider) and isinstance(provider.links, DashboardLinks)
    assert provider.pull_ref.format(number=7) == "refs/heads/pr/7"
    assert provider.clone_uri(ORG, REPO) == str(repo.path)
    assert provider.clone_uri(ORG, "absent") == str(root / ORG / "absent")
    links = provider.links
    assert links.repo(ORG, REPO) == f"https://ci.example.org/?repo={ORG}%2F{REPO}"
    assert links.pull(ORG, REPO, 7) == f"https://ci.example.org/pr-history/{ORG}/{REPO}/7"
    assert links.pull_commit(ORG, REPO, 7, "c" * 40) == links.pull(ORG, REPO, 7)
    assert links.commit(ORG, REPO, "c" * 40) == links.repo(ORG, REPO)
    assert links.user("bob") == "https://ci.example.org/?author=bob"
    assert isinstance(provider.watcher(), LocalWatcher)
    assert provider.user_comments() is not None
