"""Webhook payloads and a harness for the trigger tests.

Payloads are GitHub's real examples (`tests/data/webhooks/`) with ids, shas, owners and authors
changed to the scenario's; the harness logs them as the hook would and runs the real worker,
with the trigger plugin built by its factory against the GitHub double.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select, update

from foredeck.db import Event, Job, session_factory
from foredeck.db.eventlog import NewEvent, get_event, log_events
from foredeck.hook.plugins.trigger import TriggerPlugin, create
from foredeck.hook.worker import Worker
from foredeck.scm.github_types import repository_of
from foredeck.settings import GitHubSettings, Settings, WorkerSettings
from tests.config.helpers import JOBS_YAML
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.helpers import example

ORG = "acme"
REPO = "widget"
BOT = "foredeck-bot"  # the login of the GitHub double's default token


def sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def _move_repo(repository: dict[str, Any], org: str, repo: str) -> None:
    repository["name"] = repo
    repository["full_name"] = f"{org}/{repo}"
    repository["owner"]["login"] = org
    if "name" in repository["owner"]:
        repository["owner"]["name"] = org
    repository["html_url"] = f"https://github.com/{org}/{repo}"
    repository["clone_url"] = f"https://github.com/{org}/{repo}.git"


def _user(login: str) -> dict[str, Any]:
    return {"login": login, "html_url": f"https://github.com/{login}", "type": "User"}


def pr_payload(
    action: str,
    number: int,
    *,
    author: str,
    head_sha: str,
    sender: str | None = None,
    base_ref: str = "main",
    base_sha: str | None = None,
    draft: bool = False,
    labels: Iterable[str] = (),
    label: str | None = None,
    org: str = ORG,
    repo: str = REPO,
) -> dict[str, Any]:
    """`pull_request.opened.json` turned into `action` on `org/repo#number`."""
    p = copy.deepcopy(example("pull_request.opened"))
    p["action"] = action
    p["number"] = number
    pr = p["pull_request"]
    pr["number"] = number
    pr["title"] = f"Change {number}"
    pr["html_url"] = f"https://github.com/{org}/{repo}/pull/{number}"
    pr["user"].update(_user(author))
    pr["draft"] = draft
    pr["labels"] = [{"name": name} for name in labels]
    pr["head"].update(ref=f"topic-{number}", sha=head_sha, label=f"{author}:topic-{number}")
    pr["base"].update(ref=base_ref, sha=base_sha or sha(f"{org}/{repo}@{base_ref}"))
    _move_repo(pr["head"]["repo"], org, repo)
    _move_repo(pr["base"]["repo"], org, repo)
    _move_repo(p["repository"], org, repo)
    p["sender"].update(_user(sender or author))
    if label is not None:
        p["label"] = {"name": label, "color": "ededed"}
    return p


def comment_payload(
    number: int,
    body: str,
    *,
    commenter: str,
    author: str,
    comment_id: int,
    action: str = "created",
    state: str = "open",
    org: str = ORG,
    repo: str = REPO,
) -> dict[str, Any]:
    """`issue_comment.created.pull_request.json` with `body` by `commenter` on `#number`."""
    p = copy.deepcopy(example("issue_comment.created.pull_request"))
    p["action"] = action
    issue = p["issue"]
    issue["number"] = number
    issue["state"] = state
    issue["user"].update(_user(author))
    html = f"https://github.com/{org}/{repo}/pull/{number}"
    issue["pull_request"].update(
        url=f"https://api.github.com/repos/{org}/{repo}/pulls/{number}",
        html_url=html,
        diff_url=f"{html}.diff",
        patch_url=f"{html}.patch",
    )
    comment = p["comment"]
    comment.update(id=comment_id, body=body, html_url=f"{html}#issuecomment-{comment_id}")
    comment["user"].update(_user(commenter))
    _move_repo(p["repository"], org, repo)
    if "organization" in p:
        p["organization"]["login"] = org
    p["sender"].update(_user(commenter))
    return p


def push_payload(
    ref: str,
    after: str,
    *,
    files: Iterable[str] = ("README.md",),
    deleted: bool = False,
    pusher: str = "alice",
    org: str = ORG,
    repo: str = REPO,
) -> dict[str, Any]:
    """`push.json` moved to `org/repo`, pushing `after` to `ref` and touching `files`."""
    p = copy.deepcopy(example("push"))
    p["ref"] = ref
    p["after"] = "0" * 40 if deleted else after
    p["deleted"] = deleted
    p["created"] = False
    p["compare"] = f"https://github.com/{org}/{repo}/compare/{p['before'][:12]}...{after[:12]}"
    files = list(files)
    commit = p["commits"][0]
    commit.update(id=after, added=files[:1], modified=files[1:], removed=[])
    p["commits"] = [] if deleted else [commit]
    p["head_commit"] = None if deleted else commit
    _move_repo(p["repository"], org, repo)
    p["sender"].update(_user(pusher))
    p["pusher"] = {"name": pusher, "email": f"{pusher}@example.com"}
    return p


def seed_github(gh: GitHubDouble) -> None:
    """acme/widget; alice is an acme member, carol a collaborator, mallory a stranger."""
    gh.add_repo(ORG, REPO)
    gh.add_org_member(ORG, "alice")
    gh.add_collaborator(ORG, REPO, "carol", "write")
    gh.add_collaborator(ORG, REPO, BOT, "write")
    gh.user("mallory")


def settings_for(
    db: Database,
    gh: GitHubDouble,
    config_path: Path | None,
    options: dict[str, Any] | None = None,
) -> Settings:
    return Settings(
        database_url=db.url,
        github=GitHubSettings(base_url=gh.url, token=SecretStr(gh.token)),
        config_path=str(config_path) if config_path is not None else None,
        plugin_config={"trigger": {"bot_login": BOT, **(options or {})}},
        worker=WorkerSettings(plugins=["foredeck.hook.plugins.trigger:create"]),
    )


@dataclass
class Harness:
    db: Database
    gh: GitHubDouble
    plugin: TriggerPlugin
    worker: Worker

    def deliver(self, event: str, payload: dict[str, Any], delivery: str | None = None) -> str:
        """Log the delivery as the hook does and let the worker handle it; it must succeed."""
        did = delivery or str(uuid.uuid4())
        body = json.dumps(payload).encode()
        org, repo = repository_of(payload)
        with session_factory(self.db.engine).begin() as s:
            log_events(s, [NewEvent(did, event, payload.get("action"), org, repo, body)])
        self.worker.process_available()
        row = self.event(did)
        assert row.processed_at is not None, f"{event} {did} failed: {row.last_error}"
        return did

    def event(self, delivery: str) -> Event:
        with session_factory(self.db.engine)() as s:
            row = get_event(s, delivery)
            assert row is not None
            return row

    def redeliver(self, delivery: str) -> None:
        """Handle a processed event again, as after a crash before its commit."""
        with session_factory(self.db.engine).begin() as s:
            s.execute(
                update(Event)
                .where(Event.delivery_id == delivery)
                .values(processed_at=None, plugins_done=[], attempts=0, not_before=None)
            )
        self.worker.process_available()
        row = self.event(delivery)
        assert row.processed_at is not None, row.last_error

    def comment(self, number: int, body: str, *, commenter: str, author: str) -> str:
        posted = self.gh.add_comment(ORG, REPO, number, body, author=commenter)
        payload = comment_payload(
            number, body, commenter=commenter, author=author, comment_id=posted.id
        )
        return self.deliver("issue_comment", payload)

    def jobs(self, number: int | None = None, **where: Any) -> list[Job]:
        stmt = select(Job).order_by(Job.id)
        if number is not None:
            stmt = stmt.where(Job.pull_number == number)
        for key, value in where.items():
            stmt = stmt.where(getattr(Job, key) == value)
        with session_factory(self.db.engine)() as s:
            return list(s.execute(stmt).scalars())

    def names(self, number: int | None = None, **where: Any) -> list[str]:
        return sorted(j.name for j in self.jobs(number, **where))

    def set_job_state(self, job_id: int, state: str) -> None:
        with session_factory(self.db.engine).begin() as s:
            s.execute(update(Job).where(Job.id == job_id).values(state=state))

    def bot_comments(self, number: int) -> list[str]:
        return [c.body for c in self.gh.comments(ORG, REPO, number) if c.user == BOT]


def make_harness(
    db: Database,
    gh: GitHubDouble,
    tmp_path: Path,
    *,
    jobs_yaml: str | None = JOBS_YAML,
    options: dict[str, Any] | None = None,
) -> Harness:
    config_path: Path | None = None
    if jobs_yaml is not None:
        config_path = tmp_path / "jobs" / "config.yaml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(jobs_yaml)
    opts = {"cache_dir": str(tmp_path / "cache"), **(options or {})}
    plugin = create(settings_for(db, gh, config_path, opts))
    worker = Worker(db.engine, [plugin], max_attempts=1, retry_backoff=0)
    return Harness(db, gh, plugin, worker)
