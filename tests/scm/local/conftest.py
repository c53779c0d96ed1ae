"""Real git repositories under a local root, and the database fixtures (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from foredeck.settings import ScmSettings, Settings
from tests.db.fixtures import Database, db, pg_db, pg_schema_url, sqlite_db
from tests.kit.git import Repo

__all__ = ["db", "pg_db", "pg_schema_url", "sqlite_db"]

ORG = "acme"
REPO = "widget"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "repos"
    path.mkdir()
    return path


@pytest.fixture
def repo(root: Path) -> Repo:
    files = {"README.md": "hello\n", "src/app.py": "print(1)\n"}
    return Repo(root / ORG / REPO, files, "Initial commit")


def make_settings(database: Database, root: Path, **scm: object) -> Settings:
    return Settings(
        database_url=database.url,
        scm=ScmSettings.model_validate({"provider": "local", "local_root": str(root), **scm}),
    )


@pytest.fixture
def settings(db: Database, root: Path) -> Iterator[Settings]:
    yield make_settings(db, root)
