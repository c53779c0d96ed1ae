"""Fixtures for the end-to-end tests: the GitHub double, a git repository, a server factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.db.fixtures import Database, db, pg_schema_url, sqlite_db
from tests.doubles.github_api import GitHubDouble, github_double
from tests.e2e.harness import GitRepo, Server, seed_github

__all__ = ["db", "github_double", "pg_schema_url", "sqlite_db"]

ServerFactory = Callable[..., Server]


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.create(tmp_path / "origin" / "acme" / "widget")


@pytest.fixture
def gh(github_double: GitHubDouble, repo: GitRepo) -> GitHubDouble:
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
        server = Server(workdir, database.url, gh, jobs_yaml, settings)
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
