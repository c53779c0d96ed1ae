"""A delivery signed with one organisation's secret never runs another organisation's jobs.

The hook chooses the secret from the repository a payload names and the trigger acts on the
repository the typed model reads: both come from one function, so a payload whose fields name
two repositories is refused at the hook (400) and, if it was logged before that check existed,
by the typed model in the worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from foredeck.db import session_factory
from foredeck.db.eventlog import NewEvent, log_events
from foredeck.hook.server import create_app
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.helpers import make_settings
from tests.hook.plugins.trigger_env import Harness, make_harness, push_payload, sha
from tests.kit.webhooks import headers

JOBS_YAML = """\
postsubmits:
  acme/calculator:
  - name: calculator-release
    spec: {containers: [{image: alpine}]}
  evilorg/x:
  - name: x-build
    spec: {containers: [{image: alpine}]}
"""
SECRETS = {"acme": ["secret-A"], "evilorg": ["secret-E"]}


def forged_push() -> dict[str, Any]:
    """A push to acme/calculator whose `full_name` says evilorg/x (whose secret signs it)."""
    payload = push_payload("refs/heads/main", sha("forged"), org="acme", repo="calculator")
    payload["repository"]["full_name"] = "evilorg/x"
    return payload


@pytest.fixture
def harness(sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path) -> Iterator[Harness]:
    github_double.add_repo("acme", "calculator")
    github_double.add_repo("evilorg", "x")
    h = make_harness(sqlite_db, github_double, tmp_path, jobs_yaml=JOBS_YAML)
    yield h
    h.worker.close()


@pytest.fixture
def hook(harness: Harness) -> Iterator[TestClient]:
    settings = make_settings(harness.db, org_secrets=SECRETS)
    with TestClient(create_app(settings, harness.db.engine)) as client:
        yield client


def deliver(hook: TestClient, payload: dict[str, Any], delivery: str, secret: str) -> int:
    body = json.dumps(payload).encode()
    answer = hook.post("/hook", content=body, headers=headers(body, delivery, "push", secret))
    status: int = answer.status_code
    return status


def test_forged_delivery_creates_no_job_of_the_other_org(
    harness: Harness, hook: TestClient
) -> None:
    assert deliver(hook, forged_push(), "forged", "secret-E") == 400
    acme = push_payload("refs/heads/main", sha("acme"), org="acme", repo="calculator")
    evil = push_payload("refs/heads/main", sha("evil"), org="evilorg", repo="x")
    assert deliver(hook, acme, "acme", "secret-A") == 202
    assert deliver(hook, evil, "evil", "secret-E") == 202
    assert deliver(hook, acme, "acme-signed-by-evilorg", "secret-E") == 403
    harness.worker.process_available()
    jobs = {(j.dedupe_key, j.org, j.repo) for j in harness.jobs()}
    assert jobs == {
        ("acme:calculator-release", "acme", "calculator"),
        ("evil:x-build", "evilorg", "x"),
    }


def test_forged_event_logged_before_the_check_is_refused_by_the_typed_model(
    harness: Harness,
) -> None:
    # What the hook logged for the forged push before it refused such payloads.
    body = json.dumps(forged_push()).encode()
    with session_factory(harness.db.engine).begin() as s:
        log_events(s, [NewEvent("old-forged", "push", None, "evilorg", "x", body)])
    harness.worker.process_available()
    row = harness.event("old-forged")
    assert row.processed_at is None
    assert row.last_error is not None
    assert "push payload is not usable" in row.last_error
    assert "repository.owner.login 'acme' does not match repository.full_name" in row.last_error
    assert harness.jobs() == []
