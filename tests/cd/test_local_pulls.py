"""A bump pull request on the local provider is a pull request like any other: the watcher
reports it opened, moved by the next push to its head branch, and closed; its title is the
recorded one, not its first commit's."""

from __future__ import annotations

from pathlib import Path

import pytest

from foredeck.cd.pulls import BumpRequest
from foredeck.cd_pr.bump import open_or_update_bump
from foredeck.cd_pr.lock import FileLock
from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.names import LocalScmError
from foredeck.scm.local.pulls import LocalPulls
from foredeck.scm.local.watch import LocalWatcher
from tests.cd.conftest import FILES, NAME, ORG, set_image
from tests.db.fixtures import Database
from tests.kit.git import Repo
from tests.scm.local.test_watch import summary


def bump(value: str) -> BumpRequest:
    return BumpRequest(f"{ORG}/{NAME}", "app", set_image(value), f"Bump app to {value}")


async def test_the_watcher_sees_a_bump_pull_request_like_any_other(
    tmp_path: Path, sqlite_db: Database
) -> None:
    root = tmp_path / "repos"
    repo = Repo(root / ORG / NAME, FILES, "manifests")
    watcher = LocalWatcher(LocalPulls.at(root), sqlite_db.engine)
    assert watcher.scan_once() == 1  # main, first seen
    lock = FileLock(tmp_path / "locks")
    async with LocalScm(root, sqlite_db.engine) as scm:
        first = await open_or_update_bump(scm, bump("app:2"), lock)
        assert watcher.scan_once() == 1
        second = await open_or_update_bump(scm, bump("app:3"), lock)
        assert watcher.scan_once() == 1
        [pull] = await scm.list_open_pulls(ORG, NAME)
        assert (pull.number, pull.title, pull.head.ref) == (1, "Bump app to app:3", "pr/1")
        assert pull.head.sha == repo.head("foredeck/bump/app") == second.sha
        done = await open_or_update_bump(scm, bump("ghcr.io/acme/app:1.0"), lock)
        assert done.closed == [1]
        assert watcher.scan_once() == 1
    assert [s[:2] for s in summary(sqlite_db)[1:]] == [
        ("pull_request", "opened"),
        ("pull_request", "synchronize"),
        ("pull_request", "closed"),
    ]
    assert summary(sqlite_db)[1][2] == f"#1@{(first.sha or '')[:7]}"
    assert repo.git("branch", "--list", "pr/1") == ""  # closed: its branch is gone


async def test_a_second_pull_request_from_the_same_branch_is_refused(
    tmp_path: Path, sqlite_db: Database
) -> None:
    root = tmp_path / "repos"
    repo = Repo(root / ORG / NAME, FILES, "manifests")
    repo.git("branch", "topic", "main")
    async with LocalScm(root, sqlite_db.engine) as scm:
        made = await scm.create_pull(ORG, NAME, title="T", body="B", head="topic", base="main")
        assert (made.number, made.title, made.body) == (1, "T", "B")
        with pytest.raises(LocalScmError, match="a pull request already exists for topic"):
            await scm.create_pull(ORG, NAME, title="T", body="B", head="topic", base="main")
        assert [p.number for p in await scm.list_open_pulls(ORG, NAME, head="topic")] == [1]
