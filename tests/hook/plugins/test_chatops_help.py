"""`/help` and the answer to commands nobody handles, through the real worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.chatops_env import SPECS, ChatOps, make_chatops
from tests.hook.plugins.trigger_env import ORG, REPO, seed_github

TRIGGER = "foredeck.hook.plugins.trigger:create"


def _ops(
    db: Database,
    gh: GitHubDouble,
    config: dict[str, Any] | None = None,
    specs: list[str] | None = None,
) -> ChatOps:
    seed_github(gh)
    gh.add_pull(ORG, REPO, 1, author="alice")
    return make_chatops(db, gh, config, specs)


@pytest.fixture
def ops(sqlite_db: Database, github_double: GitHubDouble) -> Iterator[ChatOps]:
    h = _ops(sqlite_db, github_double)
    yield h
    h.worker.close()


def test_help_lists_the_enabled_commands(ops: ChatOps) -> None:
    delivery = ops.comment(1, "/help", commenter="mallory", author="alice")
    ops.redeliver(delivery)
    (reply,) = ops.replies(1)
    assert reply.startswith("@mallory: The commands of acme/widget:")
    usages = ("/help", "/hold [cancel]", "/lgtm [cancel]", "/kind VALUE...", "/remove-area", "/cc")
    for usage in usages:
        assert f"| `{usage}" in reply
    assert "/test" not in reply  # the trigger is not loaded here


def test_help_follows_the_repositorys_switches(
    sqlite_db: Database, github_double: GitHubDouble
) -> None:
    config = {"lgtm": {"enabled": False, "repos": {"other/repo": {"enabled": True}}}}
    h = _ops(sqlite_db, github_double, config, [TRIGGER, *SPECS])
    try:
        h.comment(1, "/help", commenter="alice", author="alice")
        (reply,) = h.replies(1)
        assert "/lgtm" not in reply
        assert "| `/test NAME|all`" in reply and "| `/hold [cancel]`" in reply
    finally:
        h.worker.close()


def test_unknown_commands_are_answered_known_ones_are_not(ops: ChatOps) -> None:
    ops.comment(
        1,
        "/frobnicate now\n/hold\n/path/to/file is not a command",
        commenter="alice",
        author="alice",
    )
    assert ops.labels(1) == ["do-not-merge/hold"]
    (reply,) = ops.replies(1)
    assert "`/frobnicate now`: unknown command. `/help` lists the commands here." in reply
    assert "path" not in reply.split("<details>")[0]


def test_trigger_and_configured_commands_are_not_called_unknown(
    sqlite_db: Database, github_double: GitHubDouble
) -> None:
    config = {"help": {"known_commands": ["/deploy"]}}
    h = _ops(sqlite_db, github_double, config, [TRIGGER, *SPECS])
    try:
        h.comment(1, "/deploy staging\n/retest", commenter="alice", author="alice")
        assert h.replies(1) == []
    finally:
        h.worker.close()
