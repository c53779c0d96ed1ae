"""The merge pool end to end on the local provider, driven pass by pass: pushes to a bare
repository -> watcher -> worker (trigger, hold, lgtm, approve) -> controller (real runs, real
checkouts of pulls and batches) -> reporter (statuses) -> Tide (merges with git)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from foredeck.config import ConfigAgent
from foredeck.controller import Controller
from foredeck.db import Event, Job, session_factory
from foredeck.hook.plugins import load_plugins
from foredeck.hook.worker import Worker
from foredeck.report import Reporter
from foredeck.scm.github_types import StatusState
from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.watch import LocalWatcher
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import Settings
from foredeck.tide import SyncResult, Tide
from foredeck.tide.inrepo import in_repo_options
from tests.controller.helpers import make_settings, run_until_done
from tests.db.fixtures import Database
from tests.kit.git import Repo, git

ORG, REPO = "acme", "widget"
BOT = "foredeck"
PLUGINS = [
    "foredeck.hook.plugins.trigger:create",
    *(f"foredeck.hook.plugins.chatops.{n}:create" for n in ("hold", "lgtm", "approve")),
]
UNIT = 'test ! -e FAIL && test "$(cat clash-* 2>/dev/null | wc -l)" -lt 2'
"""The presubmit: fails when the change adds a file named FAIL, or with two `clash-*` files
(each alone passes: only a batch of two such changes fails)."""


def jobs_yaml(tide: dict[str, Any]) -> str:
    unit = {
        "name": "unit",
        "always_run": True,
        "spec": {"containers": [{"image": "busybox", "command": ["sh", "-c", UNIT]}]},
    }
    post = {
        "name": "post",
        "branches": ["main"],
        "spec": {"containers": [{"image": "busybox", "command": ["true"]}]},
    }
    repo = f"{ORG}/{REPO}"
    return yaml.safe_dump(
        {"presubmits": {repo: [unit]}, "postsubmits": {repo: [post]}, "tide": tide}
    )


def pool_config(**extra: Any) -> dict[str, Any]:
    query = {"repos": [f"{ORG}/{REPO}"], "labels": ["lgtm", "approved"]}
    return {
        "queries": [{**query, "missingLabels": ["do-not-merge/hold"]}],
        "batch_size_limit": {"*": 5},
        **extra,
    }


@dataclass
class Pool:
    """The whole service of one test, and the author's work tree pushing to the bare repo."""

    db: Database
    work: Repo
    bare: Path
    settings: Settings
    worker: Worker
    watcher: LocalWatcher
    controller: Controller
    reporter: Reporter
    scm: LocalScm
    tide: Tide

    # -- what people do ----------------------------------------------------------------------

    def open(self, number: int, files: dict[str, str], author: str = "bob") -> str:
        """Push a commit of `author` as pull request `number` (its branch `pr/N`, from main)."""
        self.work.git("fetch", "-q", str(self.bare), "+main:refs/remotes/up/main")
        branch = f"topic-{number}"
        exists = self.work.git("branch", "--list", branch)
        start = branch if exists else "refs/remotes/up/main"
        self.work.git("checkout", "-q", "--detach", start)
        head = self.work.commit(f"Change {number}", files, author=author)
        self.work.git("update-ref", f"refs/heads/{branch}", head)
        self.work.git("push", "-q", "--force", str(self.bare), f"{head}:refs/heads/pr/{number}")
        return head

    def comment(self, number: int, body: str, author: str = "carol") -> None:
        comments = provider_from_settings(self.settings, self.db.engine).user_comments()
        assert comments is not None
        comments.comment(ORG, REPO, number, body, author)

    def approve(self, *numbers: int) -> None:
        for number in numbers:
            self.comment(number, "/lgtm\n/approve")

    def external(self, sha: str, state: StatusState, context: str = "gha/build") -> None:
        """A status another CI (GitHub Actions, say) posts on a head."""

        async def post() -> None:
            await self.scm.create_status(ORG, REPO, sha, state, context, "external")

        asyncio.run(post())
        self.scm.flush()

    # -- the service, one pass of each ---------------------------------------------------------

    def settle(self) -> None:
        """Events, runs and reports until nothing is left to do (Tide not included)."""
        for _ in range(20):
            self.watcher.scan_once()
            handled = self.worker.process_available()
            asyncio.run(run_until_done(self.db, self.controller, deadline=60))
            reported = asyncio.run(self.reporter.report_pending())
            self.scm.flush()
            if not handled and not reported:
                break
        with session_factory(self.db.engine)() as s:
            failed = s.execute(select(Event.last_error).where(Event.processed_at.is_(None)))
            assert failed.scalars().all() == []

    def sync(self) -> SyncResult:
        """Everything settles, then one Tide sync, then what it caused settles."""
        self.settle()
        result = self.tide.sync_once()
        self.settle()
        return result

    # -- what the tests read -------------------------------------------------------------------

    def main_files(self) -> set[str]:
        out = git(self.bare, "ls-tree", "-r", "--name-only", "main")
        return set(out.splitlines())

    def open_numbers(self) -> list[int]:
        refs = git(self.bare, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/heads/pr/")
        return sorted(int(n) for n in refs.split())

    def labels(self, number: int) -> list[str]:
        return sorted(self.scm.pulls.labels.get(ORG, REPO, number))

    def tide_status(self, sha: str) -> str:
        async def read() -> str:
            found = await self.scm.list_commit_statuses(ORG, REPO, sha)
            return next((s.description or "" for s in found if s.context == "tide"), "")

        return asyncio.run(read())

    def runs(self, kind: str) -> list[tuple[str, str, list[int]]]:
        """(name, state, pull numbers) of the runs of `kind`, oldest first."""
        with session_factory(self.db.engine)() as s:
            rows = s.execute(select(Job).where(Job.type == kind).order_by(Job.id)).scalars()
            return [(j.name, j.state, [p["number"] for p in j.pulls]) for j in rows]


def make_pool(
    db: Database, tmp_path: Path, tide_config: dict[str, Any], in_repo: str | None = None
) -> Pool:
    """`in_repo`: the repository's `.foredeck.yaml` on `main`, with `in_repo_config` on."""
    root = tmp_path / "repos"
    files = {"README.md": "widget\n", "OWNERS": "approvers: [carol]\nreviewers: [carol]\n"}
    if in_repo is not None:
        files[".foredeck.yaml"] = in_repo
    work = Repo(tmp_path / "work", files, "Initial commit")
    bare = root / ORG / f"{REPO}.git"
    bare.parent.mkdir(parents=True)
    git(tmp_path, "clone", "-q", "--bare", str(work.path), str(bare))
    config = tmp_path / "jobs.yaml"
    config.write_text(jobs_yaml(tide_config))
    base = make_settings(tmp_path, db)
    trigger = {"cache_dir": str(tmp_path / "cache"), "in_repo_config": in_repo is not None}
    settings = base.model_copy(
        update={
            "config_path": str(config),
            "scm": base.scm.model_copy(update={"local_root": str(root), "bot_login": BOT}),
            "worker": base.worker.model_copy(update={"plugins": PLUGINS}),
            "plugin_config": {"trigger": trigger},
        }
    )
    worker = Worker(db.engine, load_plugins(settings), max_attempts=1, retry_backoff=0)
    provider = provider_from_settings(settings, db.engine)
    watcher = provider.watcher()
    assert isinstance(watcher, LocalWatcher)
    scm = LocalScm(root, db.engine, bot_login=BOT)
    reporter = Reporter(db.engine, lambda: scm, bot_login=BOT)
    controller = Controller.from_settings(settings, db.engine)
    agent = ConfigAgent(str(config), reload_interval=0)
    tide = Tide(
        db.engine,
        agent,
        provider,
        dashboard_url="http://ci.example",
        in_repo=in_repo_options(trigger),
    )
    return Pool(db, work, bare, settings, worker, watcher, controller, reporter, scm, tide)
