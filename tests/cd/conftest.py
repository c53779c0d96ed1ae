"""One bump scenario, two SCMs: real git repositories with the local provider, and the GitHub
double (every request checked against GitHub's OpenAPI description).

`scm` is a `Harness`: the client a bump uses, plus what a test needs to seed and inspect the
manifests repository `acme/manifests` and to act as a human would.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import pytest

from foredeck.cd_pr.bump import BumpClient
from foredeck.cd_pr.lock import FileLock
from foredeck.scm.local.client import LocalScm
from tests.db.fixtures import Database, pg_db, pg_schema_url, sqlite_db
from tests.doubles import github_api
from tests.doubles.github_api import GitHubDouble
from tests.kit.git import Repo

__all__ = ["github_double", "pg_db", "pg_schema_url", "sqlite_db"]

github_double = github_api.github_double

ORG, NAME = "acme", "manifests"
APP = "deploy/app.yaml"
MANIFEST = (
    "# the app, deployed by foredeck\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      containers:\n"
    "        - name: app\n"
    "          image: 'ghcr.io/acme/app:1.0'   # pinned by CD\n"
    "          ports: [8080]\n"
)
FILES = {APP: MANIFEST, "README.md": "manifests\n"}
_IMAGE = re.compile(r"(image: ')([^']*)(')")


def set_image(value: str) -> EditFnLike:
    """A placeholder for the engine: writes `value` as the app's image, keeps every other byte."""

    def edit(root: Path) -> list[str]:
        path = root / APP
        text = path.read_text()
        found = _IMAGE.search(text)
        assert found is not None
        if found.group(2) == value:
            return []
        path.write_text(text[: found.start(2)] + value + text[found.end(2) :])
        return [f"{APP}: {found.group(2)} -> {value}"]

    return edit


class EditFnLike(Protocol):
    def __call__(self, root: Path) -> list[str]: ...


class Harness(Protocol):
    kind: str

    @property
    def client(self) -> BumpClient: ...

    def files(self, branch: str) -> dict[str, str]: ...
    def branch_sha(self, branch: str) -> str | None: ...
    def human_commit(self, number: int, branch: str, files: dict[str, str]) -> str: ...
    def deny_push(self) -> None: ...
    def add_branch(self, branch: str) -> None: ...


class LocalHarness:
    kind = "local"

    def __init__(self, root: Path, database: Database) -> None:
        self.repo = Repo(root / ORG / NAME, FILES, "manifests")
        self.client = LocalScm(root, database.engine)

    def files(self, branch: str) -> dict[str, str]:
        listing = self.repo.git("ls-tree", "-r", "--name-only", branch).splitlines()
        return {p: self.repo.git("show", f"{branch}:{p}") + "\n" for p in listing}

    def branch_sha(self, branch: str) -> str | None:
        found = self.repo.git("branch", "--list", branch)
        return self.repo.head(branch) if found else None

    def human_commit(self, number: int, branch: str, files: dict[str, str]) -> str:
        # a local pull request is its branch `pr/N`: a human edits it there
        return self.repo.topic(f"pr/{number}", dict(files), "a human's fix")

    def deny_push(self) -> None:
        hook = self.repo.path / ".git" / "hooks" / "pre-receive"
        hook.write_text("#!/bin/sh\necho 'permission denied for foredeck' >&2\nexit 1\n")
        hook.chmod(0o755)

    def add_branch(self, branch: str) -> None:
        self.repo.git("branch", branch, "main")


class GitHubHarness:
    kind = "github"

    def __init__(self, double: GitHubDouble) -> None:
        self.double = double
        double.add_repo(ORG, NAME)
        double.commit_files(ORG, NAME, "main", dict(FILES))
        self.client = double.client()

    def files(self, branch: str) -> dict[str, str]:
        return {p: d.decode() for p, d in self.double.files_at(ORG, NAME, branch).items()}

    def branch_sha(self, branch: str) -> str | None:
        return self.double.repo(ORG, NAME).branches.get(branch)

    def human_commit(self, number: int, branch: str, files: dict[str, str]) -> str:
        current = self.files(branch)
        return self.double.commit_files(
            ORG, NAME, branch, {**current, **files}, author=("Hu Man", "human@example.com")
        )

    def deny_push(self) -> None:
        self.double.deny_push(ORG, NAME)

    def add_branch(self, branch: str) -> None:
        repo = self.double.repo(ORG, NAME)
        repo.branches[branch] = repo.branches["main"]


@pytest.fixture(params=["local", "github"])
async def scm(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_db: Database
) -> AsyncIterator[Harness]:
    harness: LocalHarness | GitHubHarness
    if request.param == "local":
        harness = LocalHarness(tmp_path / "repos", sqlite_db)
    else:
        harness = GitHubHarness(request.getfixturevalue("github_double"))
    try:
        yield harness
    finally:
        await harness.client.close()


@pytest.fixture
def lock(tmp_path: Path) -> FileLock:
    return FileLock(tmp_path / "locks")
