"""Fixtures for the end-to-end tests: the GitHub double, a git repository, a server factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.controller.helpers import host_dir
from tests.db.fixtures import Database, db, pg_schema_url, sqlite_db
from tests.doubles.github_api import GitHubDouble, github_double
from tests.e2e.harness import E2E, Server, ServerFactory, seed_github, widget_repo
from tests.kit.git import Repo

__all__ = ["db", "github_double", "pg_schema_url", "sqlite_db"]


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return widget_repo(tmp_path / "origin" / "acme" / "widget")


@pytest.fixture
def gh(github_double: GitHubDouble, repo: Repo) -> GitHubDouble:
    seed_github(github_double, repo)
    return github_double


@pytest.fixture
def make_server(tmp_path: Path, gh: GitHubDouble) -> Iterator[ServerFactory]:
    """`make_server(database, jobs_yaml, **settings)` starts a server; every process it or its
    jobs started is killed at teardown, and none may survive that."""
    servers: list[Server] = []

    def make(database: Database, jobs_yaml: str, **settings: Any) -> Server:
        workdir = tmp_path / f"server-{len(servers)}"
        workdir.mkdir()
        server = Server(
            workdir=workdir,
            database_url=database.url,
            gh=gh,
            jobs_yaml=jobs_yaml,
            overrides=settings,
        )
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.cleanup()
    for server in servers:
        left = server.leftovers()
        _, alive = psutil.wait_procs(left, timeout=10)
        assert alive == [], f"processes left behind: {alive}"


@pytest.fixture
def e2e(
    sqlite_db: Database,
    gh: GitHubDouble,
    repo: Repo,
    make_server: ServerFactory,
    tmp_path: Path,
) -> E2E:
    return E2E(gh, repo, host_dir(tmp_path), sqlite_db, make_server)
