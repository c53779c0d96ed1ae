"""Payloads and settings for the hook tests (signed requests: `tests.kit.webhooks`)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from foredeck.settings import HookSettings, MetricsSettings, Settings
from tests.db.fixtures import Database
from tests.kit.webhooks import SECRET

METRICS_TOKEN = "metrics-token-of-the-tests"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}
"""What Prometheus sends for `/metrics` (docs/serve.md#metrics)."""

DATA = Path(__file__).resolve().parent.parent / "data" / "webhooks"


def make_settings(db: Database, **hook: object) -> Settings:
    """Settings for a hook app on `db`; `hook` fields as in YAML, the global `SECRET` by default."""
    hook.setdefault("secrets", [SECRET])
    return Settings(
        database_url=db.url,
        hook=HookSettings.model_validate(hook),
        metrics=MetricsSettings(token=SecretStr(METRICS_TOKEN)),
    )


# file stem -> X-GitHub-Event
EXAMPLES = {
    "pull_request.opened": "pull_request",
    "pull_request.opened.org": "pull_request",
    "pull_request.synchronize": "pull_request",
    "pull_request.closed": "pull_request",
    "pull_request.reopened": "pull_request",
    "pull_request.ready_for_review": "pull_request",
    "pull_request.converted_to_draft": "pull_request",
    "push": "push",
    "issue_comment.created": "issue_comment",
    "issue_comment.created.pull_request": "issue_comment",
    "ping": "ping",
    "ping.org": "ping",
}


@cache
def example_bytes(stem: str) -> bytes:
    return (DATA / f"{stem}.json").read_bytes()


def example(stem: str) -> dict[str, Any]:
    loaded = json.loads(example_bytes(stem))
    assert isinstance(loaded, dict)
    return loaded


def with_repo(payload: dict[str, Any], org: str, repo: str) -> bytes:
    """The payload moved to `org/repo` (as a delivery for another repository would look)."""
    moved = json.loads(json.dumps(payload))
    moved["repository"]["full_name"] = f"{org}/{repo}"
    moved["repository"]["name"] = repo
    moved["repository"]["owner"]["login"] = org
    if "organization" in moved:
        moved["organization"]["login"] = org
    return json.dumps(moved).encode()
