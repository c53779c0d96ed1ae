"""`/assign`, `/unassign`, `/cc`, `/uncc` through the real worker and the GitHub double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.chatops_env import ChatOps, make_chatops
from tests.hook.plugins.trigger_env import ORG, REPO, seed_github


@pytest.fixture
def ops(sqlite_db: Database, github_double: GitHubDouble) -> Iterator[ChatOps]:
    seed_github(github_double)
    github_double.add_pull(ORG, REPO, 1, author="alice")
    h = make_chatops(sqlite_db, github_double)
    yield h
    h.worker.close()


def test_assign_self_and_others_then_unassign(ops: ChatOps) -> None:
    delivery = ops.comment(1, "/assign\n/assign @alice", commenter="carol", author="alice")
    ops.redeliver(delivery)
    assert ops.gh.assignees(ORG, REPO, 1) == ["carol", "alice"]
    ops.comment(1, "/unassign", commenter="carol", author="alice")
    assert ops.gh.assignees(ORG, REPO, 1) == ["alice"]
    ops.comment(1, "/unassign @alice", commenter="mallory", author="alice")
    assert ops.gh.assignees(ORG, REPO, 1) == []
    assert ops.replies(1) == []


def test_users_github_will_not_assign_are_named(ops: ChatOps) -> None:
    delivery = ops.comment(1, "/assign @mallory @carol", commenter="alice", author="alice")
    ops.redeliver(delivery)
    assert ops.gh.assignees(ORG, REPO, 1) == ["carol"]
    (reply,) = ops.replies(1)
    assert reply.startswith("@alice: GitHub didn't allow me to assign `mallory`.")


def test_cc_requests_reviews_and_names_who_was_refused(ops: ChatOps) -> None:
    ops.comment(1, "/cc @carol @mallory @alice", commenter="alice", author="alice")
    assert ops.gh.requested_reviewers(ORG, REPO, 1) == ["carol"]
    (reply,) = ops.replies(1)
    assert "request reviews from `mallory`, `alice`." in reply  # a stranger; the author
    ops.comment(1, "/uncc @carol", commenter="carol", author="alice")
    assert ops.gh.requested_reviewers(ORG, REPO, 1) == []


def test_cc_on_an_issue_and_words_that_are_not_logins_are_answered(ops: ChatOps) -> None:
    ops.gh.add_issue(ORG, REPO, 2, author="alice")
    ops.comment(2, "/cc @carol\n/assign @some/team", commenter="alice", author="a", is_pull=False)
    (reply,) = ops.replies(2)
    assert "`/cc @carol`: review requests work on pull requests only." in reply
    assert "`/assign @some/team`: not GitHub logins: `@some/team`." in reply
    assert ops.gh.assignees(ORG, REPO, 2) == []
