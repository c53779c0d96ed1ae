"""`/lgtm`, approving reviews, and the push that takes `lgtm` away, through the real worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.chatops_env import ChatOps, make_chatops, review_payload
from tests.hook.plugins.trigger_env import ORG, REPO, pr_payload, seed_github, sha


def _ops(db: Database, gh: GitHubDouble, config: dict[str, Any] | None = None) -> ChatOps:
    seed_github(gh)
    gh.add_pull(ORG, REPO, 1, author="alice", head_sha=sha("head-1"))
    return make_chatops(db, gh, config)


@pytest.fixture
def ops(sqlite_db: Database, github_double: GitHubDouble) -> Iterator[ChatOps]:
    h = _ops(sqlite_db, github_double)
    yield h
    h.worker.close()


def test_a_collaborator_lgtms_and_the_author_cancels(ops: ChatOps) -> None:
    delivery = ops.comment(1, "Nice.\n/lgtm", commenter="carol", author="alice")
    assert ops.labels(1) == ["lgtm"]
    ops.redeliver(delivery)
    assert len(ops.gh.calls("issues/add-labels")) == 1
    ops.comment(1, "/lgtm cancel", commenter="alice", author="alice")
    assert ops.labels(1) == []
    assert ops.replies(1) == []


def test_the_author_cannot_lgtm_their_own_pull_request(ops: ChatOps) -> None:
    delivery = ops.comment(1, "/lgtm", commenter="alice", author="alice")
    ops.redeliver(delivery)
    assert ops.labels(1) == []
    (reply,) = ops.replies(1)
    assert reply.startswith("@alice: you cannot LGTM your own PR.")


def test_a_stranger_can_neither_lgtm_nor_cancel_anothers(ops: ChatOps) -> None:
    ops.comment(1, "/lgtm", commenter="mallory", author="alice")
    assert ops.labels(1) == []
    ops.comment(1, "/lgtm", commenter="carol", author="alice")
    ops.comment(1, "/lgtm cancel", commenter="mallory", author="alice")
    assert ops.labels(1) == ["lgtm"]
    replies = ops.replies(1)
    assert len(replies) == 2
    assert all(r.startswith("@mallory: changing LGTM is restricted") for r in replies)


def test_lgtm_on_an_issue_is_answered(ops: ChatOps) -> None:
    ops.gh.add_issue(ORG, REPO, 2, author="alice")
    ops.comment(2, "/lgtm", commenter="carol", author="alice", is_pull=False)
    assert ops.labels(2) == []
    (reply,) = ops.replies(2)
    assert "pull requests only" in reply


def test_reviews_approve_and_request_changes(ops: ChatOps) -> None:
    ops.deliver(
        "pull_request_review",
        review_payload(1, reviewer="carol", author="alice", state="commented"),
    )
    assert ops.labels(1) == []
    ops.deliver(
        "pull_request_review", review_payload(1, reviewer="carol", author="alice", state="approved")
    )
    assert ops.labels(1) == ["lgtm"]
    ops.deliver(
        "pull_request_review",
        review_payload(1, reviewer="carol", author="alice", state="changes_requested"),
    )
    assert ops.labels(1) == []
    # A stranger's approval does not count.
    ops.deliver(
        "pull_request_review",
        review_payload(1, reviewer="mallory", author="alice", state="approved"),
    )
    assert ops.labels(1) == []


def test_a_new_push_removes_lgtm(ops: ChatOps) -> None:
    ops.comment(1, "/lgtm", commenter="carol", author="alice")
    ops.deliver("pull_request", pr_payload("labeled", 1, author="alice", head_sha=sha("head-1")))
    assert ops.labels(1) == ["lgtm"]
    push = pr_payload("synchronize", 1, author="alice", head_sha=sha("push 2"))
    delivery = ops.deliver("pull_request", push)
    assert ops.labels(1) == []
    ops.redeliver(delivery)
    assert len(ops.gh.calls("issues/remove-label")) == 1


def test_remove_on_push_can_be_off_for_a_repository(
    sqlite_db: Database, github_double: GitHubDouble
) -> None:
    config = {"lgtm": {"repos": {ORG: {"remove_on_push": False}}}}
    h = _ops(sqlite_db, github_double, config)
    try:
        h.comment(1, "/lgtm", commenter="carol", author="alice")
        h.deliver("pull_request", pr_payload("synchronize", 1, author="alice", head_sha=sha("p")))
        assert h.labels(1) == ["lgtm"]
    finally:
        h.worker.close()


def test_invalid_options_stop_the_hook_with_every_problem_listed(
    sqlite_db: Database, github_double: GitHubDouble
) -> None:
    config = {"lgtm": {"remove_on_push": "sometimes", "repos": {"a/b/c": {}}, "colour": 1}}
    with pytest.raises(ValueError) as caught:
        _ops(sqlite_db, github_double, config)
    message = str(caught.value)
    assert message.startswith("plugin_config.lgtm: invalid options:")
    for fragment in ("remove_on_push", "a/b/c", "colour"):
        assert fragment in message
