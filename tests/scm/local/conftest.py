"""Real git repositories under a local root, and the database fixtures (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from foredeck.settings import Settings
from tests.db.fixtures import Database, db, pg_db, pg_schema_url, sqlite_db

__all__ = ["db", "pg_db", "pg_schema_url", "sqlite_db"]

ORG = "acme"
REPO = "widget"


def git_env(name: str = "Alice", email: str = "alice@example.com") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email,
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email,
    )
    return env


class Repo:
    """A work-tree repository at `<root>/ORG/REPO` that tests commit to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "--quiet", "-b", "main")

    def git(self, *args: str, author: str = "alice") -> str:
        env = git_env(author.capitalize(), f"{author}@example.com")
        result = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return result.stdout.strip()

    def commit(
        self,
        message: str,
        files: dict[str, str | None],
        *,
        branch: str | None = None,
        author: str = "alice",
    ) -> str:
        """Commit `files` (None deletes) on `branch` (created from the current one if new)."""
        if branch is not None:
            exists = self.git("branch", "--list", branch)
            self.git("checkout", "--quiet", *(() if exists else ("-b",)), branch)
        for name, content in files.items():
            target = self.path / name
            if content is None:
                self.git("rm", "--quiet", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            self.git("add", name)
        self.git("commit", "--quiet", "-m", message, author=author)
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", rev)

    def checkout(self, branch: str) -> None:
        self.git("checkout", "--quiet", branch)

    def delete_branch(self, branch: str) -> None:
        self.checkout("main")
        self.git("branch", "--quiet", "-D", branch)

    def merge(self, branch: str) -> str:
        self.checkout("main")
        self.git("merge", "--quiet", "--ff-only", branch)
        return self.head()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "repos"
    path.mkdir()
    return path


@pytest.fixture
def repo(root: Path) -> Repo:
    r = Repo(root / ORG / REPO)
    r.commit("Initial commit", {"README.md": "hello\n", "src/app.py": "print(1)\n"})
    return r


def make_settings(database: Database, root: Path, **scm: object) -> Settings:
    return Settings(
        database_url=database.url,
        scm={"provider": "local", "local_root": str(root), **scm},  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(db: Database, root: Path) -> Iterator[Settings]:
    yield make_settings(db, root)
