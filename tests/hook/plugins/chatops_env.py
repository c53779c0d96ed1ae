"""A harness for the chat-op plugin tests: the real worker, plugins built by their factories
from settings, against the GitHub double (seeded as in `trigger_env`)."""

from __future__ import annotations

import copy
import gzip
import json
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import SecretStr
from sqlalchemy import update

from foredeck.db import Event, session_factory
from foredeck.db.eventlog import NewEvent, get_event, log_events
from foredeck.hook.plugins import load_plugins
from foredeck.hook.worker import Worker
from foredeck.scm.github_types import repository_of
from foredeck.settings import GitHubSettings, Settings, WorkerSettings
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.helpers import DATA
from tests.hook.plugins.trigger_env import (
    BOT,
    ORG,
    REPO,
    _move_repo,
    _user,
    comment_payload,
    pr_payload,
    sha,
)

CHATOPS = ("hold", "lgtm", "label", "assign", "approve", "help")
SPECS = [f"foredeck.hook.plugins.chatops.{name}:create" for name in CHATOPS]


@cache
def _review_example() -> dict[str, Any]:
    with gzip.open(DATA / "all-examples.json.gz") as f:
        examples = json.load(f)
    first: dict[str, Any] = examples["pull_request_review"][0]
    return first


def review_payload(number: int, *, reviewer: str, author: str, state: str) -> dict[str, Any]:
    """`pull_request_review` (submitted) by `reviewer` on `#number`, in the state given."""
    p = copy.deepcopy(_review_example())
    p["action"] = "submitted"
    p["review"]["state"] = state
    p["review"]["user"].update(_user(reviewer))
    pr = pr_payload("opened", number, author=author, head_sha=sha(f"head-{number}"))
    p["pull_request"] = pr["pull_request"]
    _move_repo(p["repository"], ORG, REPO)
    p["sender"].update(_user(reviewer))
    p.pop("organization", None)
    return p


def settings_for(
    db: Database, gh: GitHubDouble, plugin_config: dict[str, Any], specs: list[str]
) -> Settings:
    return Settings(
        database_url=db.url,
        github=GitHubSettings(base_url=gh.url, token=SecretStr(gh.token)),
        plugin_config={"trigger": {"bot_login": BOT}, **plugin_config},
        worker=WorkerSettings(plugins=specs),
    )


@dataclass
class ChatOps:
    db: Database
    gh: GitHubDouble
    worker: Worker

    def deliver(self, event: str, payload: dict[str, Any], delivery: str | None = None) -> str:
        """Log the delivery as the hook does and let the worker handle it; it must succeed."""
        did = delivery or str(uuid.uuid4())
        org, repo = repository_of(payload)
        body = json.dumps(payload).encode()
        with session_factory(self.db.engine).begin() as s:
            log_events(s, [NewEvent(did, event, payload.get("action"), org, repo, body)])
        self.worker.process_available()
        with session_factory(self.db.engine)() as s:
            row = get_event(s, did)
            assert row is not None and row.processed_at is not None, row and row.last_error
        return did

    def redeliver(self, delivery: str) -> None:
        """Handle a processed event again, as after a crash before its commit."""
        with session_factory(self.db.engine).begin() as s:
            s.execute(
                update(Event)
                .where(Event.delivery_id == delivery)
                .values(processed_at=None, plugins_done=[], attempts=0, not_before=None)
            )
        self.worker.process_available()
        with session_factory(self.db.engine)() as s:
            row = get_event(s, delivery)
            assert row is not None and row.processed_at is not None, row and row.last_error

    def comment(
        self, number: int, body: str, *, commenter: str, author: str, is_pull: bool = True
    ) -> str:
        posted = self.gh.add_comment(ORG, REPO, number, body, author=commenter)
        payload = comment_payload(
            number, body, commenter=commenter, author=author, comment_id=posted.id
        )
        if not is_pull:
            payload["issue"].pop("pull_request")
        return self.deliver("issue_comment", payload)

    def labels(self, number: int) -> list[str]:
        return sorted(self.gh.issue_labels(ORG, REPO, number))

    def replies(self, number: int) -> list[str]:
        return [c.body for c in self.gh.comments(ORG, REPO, number) if c.user == BOT]


def make_chatops(
    db: Database,
    gh: GitHubDouble,
    plugin_config: dict[str, Any] | None = None,
    specs: list[str] | None = None,
) -> ChatOps:
    settings = settings_for(db, gh, plugin_config or {}, SPECS if specs is None else specs)
    worker = Worker(db.engine, load_plugins(settings), max_attempts=1, retry_backoff=0)
    return ChatOps(db, gh, worker)
