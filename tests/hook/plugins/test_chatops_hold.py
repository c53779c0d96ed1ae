"""`/hold` and `/hold cancel` through the real worker and the GitHub double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.chatops_env import ChatOps, make_chatops
from tests.hook.plugins.trigger_env import ORG, REPO, seed_github

HOLD = "do-not-merge/hold"


@pytest.fixture
def ops(sqlite_db: Database, github_double: GitHubDouble) -> Iterator[ChatOps]:
    seed_github(github_double)
    github_double.add_pull(ORG, REPO, 1, author="alice")
    h = make_chatops(sqlite_db, github_double)
    yield h
    h.worker.close()


def test_anyone_may_hold_and_cancel_and_a_redelivery_changes_nothing(ops: ChatOps) -> None:
    delivery = ops.comment(1, "Wait for the release.\n/hold", commenter="mallory", author="alice")
    assert ops.labels(1) == [HOLD]
    ops.redeliver(delivery)
    assert ops.labels(1) == [HOLD]
    adds = ops.gh.calls("issues/add-labels")
    assert len(adds) == 1
    ops.comment(1, "/hold cancel", commenter="carol", author="alice")
    assert ops.labels(1) == []
    assert ops.replies(1) == []  # a command that worked needs no answer: the label says it


def test_a_reason_after_hold_still_holds_and_the_aliases_cancel(ops: ChatOps) -> None:
    ops.comment(1, "/hold until the release is out", commenter="alice", author="alice")
    assert ops.labels(1) == [HOLD]
    ops.comment(1, "/unhold", commenter="alice", author="alice")
    assert ops.labels(1) == []
    ops.comment(1, "/HOLD", commenter="alice", author="alice")
    ops.comment(1, "/remove-hold", commenter="alice", author="alice")
    assert ops.labels(1) == []
    assert len(ops.gh.calls("issues/add-labels")) == 2


def test_hold_on_an_issue_is_answered(ops: ChatOps) -> None:
    ops.gh.add_issue(ORG, REPO, 2, author="alice")
    ops.comment(2, "/hold", commenter="alice", author="alice", is_pull=False)
    assert ops.labels(2) == []
    (reply,) = ops.replies(2)
    assert "`/hold`: holds work on pull requests only." in reply


def test_mentioning_hold_mid_line_or_in_code_is_not_a_command(ops: ChatOps) -> None:
    ops.comment(1, "Please don't /hold this.", commenter="alice", author="alice")
    ops.comment(1, "```\n/hold\n```", commenter="alice", author="alice")
    assert ops.labels(1) == []
    assert ops.replies(1) == []


def test_off_in_a_repository_the_plugin_leaves_it_alone(
    sqlite_db: Database, github_double: GitHubDouble
) -> None:
    seed_github(github_double)
    github_double.add_pull(ORG, REPO, 1, author="alice")
    config = {"hold": {"repos": {f"{ORG}/{REPO}": {"enabled": False}}}}
    h = make_chatops(sqlite_db, github_double, config)
    try:
        h.comment(1, "/hold", commenter="alice", author="alice")
        assert h.labels(1) == []
        (reply,) = h.replies(1)  # the help plugin says why nothing happened
        assert "`/hold`: this command is not enabled in acme/widget" in reply
    finally:
        h.worker.close()
