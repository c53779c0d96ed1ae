"""Chat-ops without GitHub: local comments and pushes -> watcher -> worker -> the chat-op
plugins on `LocalScm` (labels, assignees and review requests in the local files)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from foredeck.db import Event, session_factory
from foredeck.hook.plugins import load_plugins
from foredeck.hook.worker import Worker
from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.watch import LocalWatcher
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import ScmSettings, Settings, WorkerSettings
from tests.db.fixtures import Database
from tests.kit.git import Repo
from tests.scm.local.conftest import ORG, REPO

BOT = "foredeck"
PLUGINS = [
    f"foredeck.hook.plugins.chatops.{name}:create"
    for name in ("hold", "lgtm", "label", "assign", "approve", "help")
]


@dataclass
class Local:
    db: Database
    root: Path
    settings: Settings
    worker: Worker
    watcher: LocalWatcher

    def scan(self) -> None:
        self.watcher.scan_once()
        self.worker.process_available()
        with session_factory(self.db.engine)() as s:
            failed = s.execute(select(Event.last_error).where(Event.processed_at.is_(None)))
            assert failed.scalars().all() == []

    def comment(self, number: int, body: str, author: str) -> None:
        comments = provider_from_settings(self.settings, self.db.engine).user_comments()
        assert comments is not None
        comments.comment(ORG, REPO, number, body, author)
        self.scan()

    def state(self, number: int) -> tuple[list[str], list[str], list[str], list[str]]:
        """(labels, assignees, reviewers, the bot's comments)."""

        async def read() -> tuple[list[str], list[str], list[str], list[str]]:
            async with LocalScm(self.root, self.db.engine) as scm:
                labels = [x.name for x in await scm.list_issue_labels(ORG, REPO, number)]
                assignees = await scm.add_assignees(ORG, REPO, number, [])
                reviewers = await scm.request_reviewers(ORG, REPO, number, [])
                comments = await scm.list_issue_comments(ORG, REPO, number)
                mine = [c.body for c in comments if c.user.login == BOT]
                return sorted(labels), assignees, reviewers, mine

        return asyncio.run(read())


@pytest.fixture
def local(db: Database, root: Path, repo: Repo) -> Iterator[Local]:
    settings = Settings(
        database_url=db.url,
        scm=ScmSettings(provider="local", local_root=str(root), bot_login=BOT),
        worker=WorkerSettings(plugins=PLUGINS),
    )
    worker = Worker(db.engine, load_plugins(settings), max_attempts=1, retry_backoff=0)
    watcher = provider_from_settings(settings, db.engine).watcher(on_logged=worker.notify)
    assert isinstance(watcher, LocalWatcher)
    yield Local(db, root, settings, worker, watcher)
    worker.close()


def test_chat_ops_on_local_pull_requests(local: Local, repo: Repo) -> None:
    repo.commit("Owners", {"OWNERS": "approvers: [carol]\n"}, branch="main")
    local.scan()
    repo.commit("Add code", {"src/f.py": "f\n"}, branch="pr/1", author="bob")
    repo.checkout("main")
    local.scan()

    local.comment(1, "/hold\n/kind bug\n/lgtm", "bob")  # the author cannot lgtm
    labels, _, _, replies = local.state(1)
    assert labels == ["do-not-merge/hold", "kind/bug"]
    assert "This PR is **NOT APPROVED**" in replies[0]  # the approval notifier
    assert replies[1].startswith("@bob: you cannot LGTM your own PR.")

    local.comment(1, "/lgtm\n/approve\n/assign @alice\n/cc @carol\n/hold cancel", "carol")
    labels, assignees, reviewers, replies = local.state(1)
    assert labels == ["approved", "kind/bug", "lgtm"]
    assert "This PR is **APPROVED**" in replies[0]
    assert (assignees, reviewers) == (["alice"], ["carol"])

    repo.commit("More", {"src/g.py": "g\n"}, branch="pr/1", author="bob")  # a new push
    repo.checkout("main")
    local.scan()
    labels, _, _, _ = local.state(1)
    assert labels == ["approved", "kind/bug"]  # lgtm goes with a push; approval stays

    local.comment(1, "/help\n/frobnicate", "dave")
    _, _, _, replies = local.state(1)
    assert replies[-1].startswith("@dave: The commands of acme/widget:")
    assert "`/frobnicate`: unknown command" in replies[-1]
