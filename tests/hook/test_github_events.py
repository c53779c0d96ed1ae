"""Every event GitHub sends is logged: each name in GitHub's webhook descriptions, and every
published example payload (tests/data/webhooks/README.md says where both come from)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.db.fixtures import Database
from tests.hook.helpers import DATA, make_settings
from tests.kit.webhooks import headers, hook_app


@cache
def published_examples() -> dict[str, list[dict[str, Any]]]:
    loaded = json.loads(gzip.decompress((DATA / "all-examples.json.gz").read_bytes()))
    assert isinstance(loaded, dict)
    return loaded


def event_names() -> list[str]:
    names = json.loads((DATA / "event-names.json").read_text())["names"]
    assert isinstance(names, list)
    return names


def names_disagree(payload: dict[str, Any]) -> bool:
    """A repository whose full_name is not its owner's login and its name: some published
    examples were edited that way (an org owner pasted over Codertocat's), no delivery is."""
    repo = payload.get("repository")
    if not isinstance(repo, dict):
        return False
    full_name: str = repo["full_name"]
    return full_name != f"{repo['owner']['login']}/{repo['name']}"


@pytest.fixture
def app(sqlite_db: Database) -> Iterator[FastAPI]:
    """On SQLite alone (the `client` fixture calls it): what is tested is the event names."""
    with hook_app(make_settings(sqlite_db), sqlite_db) as application:
        yield application


def test_the_lists_cover_github_events_with_digits_and_new_names() -> None:
    names = set(event_names())
    assert {"projects_v2_item", "projects_v2", "sub_issues", "push", "pull_request"} <= names
    assert len(names) >= 75
    assert set(published_examples()) <= names


async def test_every_event_name_github_describes_is_logged(client: httpx.AsyncClient) -> None:
    body = json.dumps({"action": "created", "organization": {"login": "acme"}}).encode()
    refused = {}
    for number, name in enumerate(event_names()):
        r = await client.post("/hook", content=body, headers=headers(body, f"n-{number}", name))
        if r.status_code != 202:
            refused[name] = (r.status_code, r.text)
    assert refused == {}


async def test_every_published_example_is_logged(client: httpx.AsyncClient) -> None:
    answers: dict[tuple[str, int], int] = {}
    expected: dict[tuple[str, int], int] = {}
    for name, examples in published_examples().items():
        for index, payload in enumerate(examples):
            body = json.dumps(payload).encode()
            delivery = f"{name}-{index}"
            r = await client.post("/hook", content=body, headers=headers(body, delivery, name))
            answers[name, index] = r.status_code
            expected[name, index] = 400 if names_disagree(payload) else 202
    assert answers == expected
    assert len(answers) > 300 and sum(1 for code in answers.values() if code == 202) > 300
