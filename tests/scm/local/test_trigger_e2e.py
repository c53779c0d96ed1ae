"""End to end without GitHub: watcher events -> worker -> the real trigger plugin on `LocalScm`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from foredeck.db import Event, Job, session_factory
from foredeck.hook.plugins.trigger import create
from foredeck.hook.worker import Worker
from foredeck.scm.git import checkout
from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.names import pull_ref
from foredeck.scm.local.watch import LocalWatcher
from foredeck.scm.providers import provider_from_settings
from foredeck.serve.app import create_service_app
from foredeck.settings import ReporterSettings, ScmSettings, Settings
from foredeck.types import Refs
from tests.config.helpers import JOBS_YAML
from tests.db.fixtures import Database
from tests.kit.git import Repo
from tests.scm.local.conftest import ORG, REPO

BOT = "foredeck"
DASH = "https://ci.example.org"


@dataclass
class Local:
    db: Database
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

    def jobs(self) -> list[Job]:
        with session_factory(self.db.engine)() as s:
            return list(s.execute(select(Job).order_by(Job.id)).scalars())

    def names(self, state: str = "triggered", **where: object) -> list[str]:
        return sorted(
            j.name
            for j in self.jobs()
            if j.state == state and all(getattr(j, k) == v for k, v in where.items())
        )


async def comment_bodies(root: Path, engine: Engine, number: int) -> list[str]:
    async with LocalScm(root, engine) as scm:
        return [c.body for c in await scm.list_issue_comments(ORG, REPO, number)]


@pytest.fixture
def local(db: Database, root: Path, repo: Repo, tmp_path: Path) -> Iterator[Local]:
    config = tmp_path / "jobs.yaml"
    config.write_text(JOBS_YAML)
    settings = Settings(
        database_url=db.url,
        config_path=str(config),
        scm=ScmSettings(provider="local", local_root=str(root), bot_login=BOT),
        plugin_config={"trigger": {"bot_login": BOT, "cache_dir": str(tmp_path / "cache")}},
        reporter=ReporterSettings(dashboard_url=DASH),
    )
    plugin = create(settings)  # the local provider's defaults: its client, pull refs, clones
    worker = Worker(db.engine, [plugin], max_attempts=1, retry_backoff=0)
    watcher = provider_from_settings(settings, db.engine).watcher(on_logged=worker.notify)
    assert isinstance(watcher, LocalWatcher)
    yield Local(db, settings, worker, watcher)
    worker.close()


def test_local_links_are_the_dashboards_pages(local: Local, repo: Repo, root: Path) -> None:
    """A job's links (repository, pull request, commits, author), in its row, in the API and
    on the dashboard, point at foredeck's own pages: there is no github.com for local repos."""
    local.scan()
    [publish] = local.jobs()
    repo.commit("Add code", {"src/f.py": "f\n"}, branch="pr/1", author="bob")
    repo.checkout("main")
    local.scan()
    local.comment(1, "/test e2e", "carol")
    repo_page = f"{DASH}/?repo={ORG}%2F{REPO}"
    pr_page = f"{DASH}/pr-history/{ORG}/{REPO}/1"
    by_webhook = next(j for j in local.jobs() if j.name == "unit")
    by_command = next(j for j in local.jobs() if j.name == "e2e")
    for job in (by_webhook, by_command):
        assert job.refs is not None
        assert job.refs["repo_link"] == repo_page and job.refs["base_link"] == repo_page
        pull = job.pulls[0]
        assert (pull["link"], pull["commit_link"]) == (pr_page, pr_page)
        assert pull["author_link"] == f"{DASH}/?author=bob"
    assert publish.refs is not None and publish.refs["repo_link"] == repo_page

    app = create_service_app(local.settings, local.db.engine)
    with TestClient(app) as client:
        html = client.get("/").text + client.get(f"/view/{publish.id}").text
        detail = client.get(f"/api/jobs/{by_command.id}").json()
    assert "github.com" not in html
    assert f'href="{pr_page}"' in html and f'href="{repo_page}"' in html  # PR; push's commit
    assert detail["pulls"][0]["author_link"] == f"{DASH}/?author=bob"


def test_pushes_prs_and_comments_make_jobs(local: Local, repo: Repo, root: Path) -> None:
    """Sync on purpose: the worker runs the plugin on an event loop of its own."""
    local.scan()
    main = repo.head("main")
    assert local.names(type="postsubmit") == ["publish"]
    [publish] = local.jobs()
    assert (publish.org, publish.repo, publish.base_ref, publish.base_sha) == (
        ORG,
        REPO,
        "main",
        main,
    )

    repo.commit(
        "Add docs and code", {"docs/x.md": "x\n", "src/f.py": "f\n"}, branch="pr/1", author="bob"
    )
    repo.checkout("main")
    local.scan()
    head1 = repo.head("pr/1")
    assert local.names(pull_number=1) == ["docs", "lint", "unit"]
    unit = next(j for j in local.jobs() if j.name == "unit")
    assert unit.pulls[0]["sha"] == head1 and unit.pulls[0]["author"] == "bob"
    assert unit.base_sha == main and unit.pulls[0]["title"] == "Add docs and code"

    local.comment(1, "/test e2e", "carol")
    assert local.names(pull_number=1) == ["docs", "e2e", "lint", "unit"]

    with session_factory(local.db.engine).begin() as s:
        s.execute(update(Job).where(Job.id == unit.id).values(state="failure"))
    local.comment(1, "/retest", "carol")
    assert local.names(pull_number=1) == ["docs", "e2e", "lint", "unit"]
    assert local.names("failure") == ["unit"]

    # The bot answers an unknown job in the worker's transaction: must not hang on SQLite.
    local.comment(1, "/test nope", "carol")
    deadline = time.monotonic() + 20  # the plugin's client commits its comment in the background
    while len(bodies := asyncio.run(comment_bodies(root, local.db.engine, 1))) < 4:
        assert time.monotonic() < deadline, bodies
        time.sleep(0.02)
    assert len(bodies) == 4 and "nope" in bodies[3] and "/test e2e" in bodies[3]

    head2 = repo.commit("Only code", {"src/f.py": "g\n"}, branch="pr/1", author="bob")
    repo.checkout("main")
    local.scan()
    assert local.names("aborted") == ["docs", "e2e", "lint", "unit"]
    assert local.names(pull_number=1) == ["docs", "lint", "unit"]  # docs: the PR still has docs/
    assert all(
        j.pulls[0]["sha"] == head2 for j in local.jobs() if j.state == "triggered" and j.pull_number
    )

    repo.delete_branch("pr/1")
    local.scan()
    assert local.names(pull_number=1) == []


async def test_a_presubmits_refs_check_out_from_the_local_repository(
    local: Local, repo: Repo, root: Path, tmp_path: Path
) -> None:
    """The job's refs with the local pull ref (`refs/heads/pr/N`) and clone URI: the real
    clonerefs-like checkout merges the pull request."""
    repo.commit("Feature", {"src/f.py": "f\n"}, branch="pr/2", author="bob")
    repo.commit("Main moves", {"README.md": "new\n"}, branch="main")
    await asyncio.to_thread(local.scan)
    [job] = [j for j in local.jobs() if j.name == "unit"]
    assert job.refs is not None
    refs = Refs.model_validate(job.refs)
    assert refs.pulls[0].ref == pull_ref(2)  # not GitHub's refs/pull/2/head
    record = await checkout(
        refs,
        tmp_path / "src",
        mirror_root=tmp_path / "mirrors",
        clone_uri=provider_from_settings(local.settings).clone_uri,
    )
    assert not record.failed
    assert (tmp_path / "src" / "src" / "f.py").read_text() == "f\n"
    assert (tmp_path / "src" / "README.md").read_text() == "new\n"
