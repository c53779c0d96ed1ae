"""`/approve` with OWNERS files, through the real worker and the GitHub double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from foredeck.hook.plugins.chatops.approve import ISSUE_REFERENCE
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.chatops_env import ChatOps, make_chatops, review_payload
from tests.hook.plugins.trigger_env import BOT, ORG, REPO, pr_payload, seed_github, sha

MARKER = "<!-- foredeck:approve:notifier -->"


@pytest.fixture
def ops(sqlite_db: Database, github_double: GitHubDouble) -> Iterator[ChatOps]:
    seed_github(github_double)
    gh = github_double
    gh.set_file(ORG, REPO, "OWNERS", "approvers: [root-admin]\n")
    gh.set_file(ORG, REPO, "OWNERS_ALIASES", "aliases:\n  b-team: [ben, bea]\n")
    gh.set_file(ORG, REPO, "a/OWNERS", "approvers: [amy]\n")
    gh.set_file(ORG, REPO, "b/OWNERS", "approvers: [b-team]\n")
    gh.set_file(ORG, REPO, "c/OWNERS", "approvers: [cat]\noptions: {no_parent_owners: true}\n")
    files = ["a/1.py", "b/x/2.py", "c/3.py"]
    gh.add_pull(ORG, REPO, 1, author="alice", head_sha=sha("head-1"), files=files)
    h = make_chatops(sqlite_db, github_double)
    yield h
    h.worker.close()


def notifiers(ops: ChatOps) -> list[str]:
    return [c.body for c in ops.gh.comments(ORG, REPO, 1) if c.user == BOT and MARKER in c.body]


def test_every_owners_directory_must_approve_and_the_notifier_is_edited_in_place(
    ops: ChatOps,
) -> None:
    ops.deliver("pull_request", pr_payload("opened", 1, author="alice", head_sha=sha("head-1")))
    (note,) = notifiers(ops)
    assert "This PR is **NOT APPROVED**" in note and "Approved by: nobody yet" in note
    assert "- `c/3.py`: ask @cat (`c/OWNERS`)" in note
    assert "- `b/x/2.py`: ask @ben, @bea (`b/OWNERS`)" in note
    assert "Suggested approvers: @amy, @bea, @cat" in note

    delivery = ops.comment(1, "/approve", commenter="amy", author="alice")
    ops.redeliver(delivery)
    ops.comment(1, "/approve no-issue", commenter="bea", author="alice")
    assert ops.labels(1) == []
    (note,) = notifiers(ops)
    assert "Approved by: @amy, @bea" in note and "`a/1.py`" not in note and "`c/3.py`" in note

    ops.comment(1, "/approve", commenter="cat", author="alice")
    assert ops.labels(1) == ["approved"]
    (note,) = notifiers(ops)
    assert "This PR is **APPROVED**" in note
    assert ops.replies(1) == [note]  # no other comment: the approvals worked

    ops.comment(1, "/approve cancel", commenter="cat", author="alice")
    assert ops.labels(1) == []


def test_a_root_approver_does_not_cover_a_no_parent_owners_directory(ops: ChatOps) -> None:
    ops.comment(1, "/approve", commenter="root-admin", author="alice")
    (note,) = notifiers(ops)
    assert "Approved by: @root-admin" in note
    assert "`c/3.py`" in note and "`a/1.py`" not in note and "`b/x/2.py`" not in note
    assert ops.labels(1) == []


def test_someone_who_owns_nothing_here_is_told_and_not_counted(ops: ChatOps) -> None:
    ops.comment(1, "/approve", commenter="mallory", author="alice")
    replies = [r for r in ops.replies(1) if MARKER not in r]
    (reply,) = replies
    assert reply.startswith("@mallory: you are not an approver of any file this PR changes")
    (note,) = notifiers(ops)
    assert "Approved by: nobody yet" in note


def test_an_unusable_owners_file_blocks_approval_and_says_why(ops: ChatOps) -> None:
    ops.gh.set_file(ORG, REPO, "a/OWNERS", "approvers: amy\n")
    for who in ("amy", "ben", "cat", "root-admin"):
        ops.comment(1, "/approve", commenter=who, author="alice")
    assert ops.labels(1) == []
    (note,) = notifiers(ops)
    assert "The OWNERS files cannot be used: a/OWNERS: approvers must be a list" in note


def test_bad_arguments_and_issues_are_answered(ops: ChatOps) -> None:
    ops.comment(1, "/approve everything", commenter="amy", author="alice")
    assert "`/approve everything` is not understood" in ops.replies(1)[0]
    ops.gh.add_issue(ORG, REPO, 2, author="alice")
    ops.comment(2, "/approve", commenter="amy", author="alice", is_pull=False)
    assert "approvals work on pull requests only" in ops.replies(2)[0]


def test_a_pull_request_without_changed_files_still_needs_an_approval(ops: ChatOps) -> None:
    ops.gh.add_pull(ORG, REPO, 3, author="alice", head_sha=sha("head-3"))
    ops.deliver("pull_request", pr_payload("opened", 3, author="alice", head_sha=sha("head-3")))
    assert ops.labels(3) == []
    (note,) = [r for r in ops.replies(3) if MARKER in r]
    assert "This PR is **NOT APPROVED**" in note


def test_with_issue_required_an_approval_needs_an_issue_or_no_issue(
    sqlite_db: Database, github_double: GitHubDouble
) -> None:
    seed_github(github_double)
    gh = github_double
    gh.set_file(ORG, REPO, "OWNERS", "approvers: [amy, ben]\n")
    gh.add_pull(ORG, REPO, 1, author="alice", head_sha=sha("h1"), files=["x.py"], body="No ref")
    gh.add_pull(ORG, REPO, 2, author="alice", head_sha=sha("h2"), files=["x.py"], body="Fixes #7")
    config = {"approve": {"issue_required": True}}
    ops = make_chatops(sqlite_db, github_double, config)
    try:
        ops.comment(1, "/approve", commenter="amy", author="alice")
        assert ops.labels(1) == []
        (note,) = notifiers(ops)
        assert "This PR needs an associated issue" in note and "**NOT APPROVED**" in note
        ops.comment(1, "/approve no-issue", commenter="ben", author="alice")
        assert ops.labels(1) == ["approved"]
        ops.comment(1, "/approve cancel", commenter="ben", author="alice")
        assert ops.labels(1) == []  # amy's plain approval alone names no issue

        ops.comment(2, "/approve", commenter="amy", author="alice")
        assert ops.labels(2) == ["approved"]  # its description references #7
    finally:
        ops.worker.close()


def test_issue_references_are_found_as_prow_finds_them() -> None:
    found = [
        bool(ISSUE_REFERENCE.search(text))
        for text in ("Fixes #12", "see acme/widget#3.", "(#4)", "#5", "PR#6", "issue 7", "#x")
    ]
    assert found == [True, True, True, True, False, False, False]


def test_with_review_acts_as_approve_reviews_and_comments_count_in_order(
    sqlite_db: Database, github_double: GitHubDouble
) -> None:
    seed_github(github_double)
    gh = github_double
    gh.set_file(ORG, REPO, "OWNERS", "approvers: [amy]\n")
    gh.add_pull(ORG, REPO, 1, author="alice", head_sha=sha("h1"), files=["x.py"])
    ops = make_chatops(sqlite_db, github_double, {"approve": {"review_acts_as_approve": True}})
    now = [1_800_000_000.0]
    gh.clock = lambda: now[0]  # GitHub's times are whole seconds: each action its own

    def reviewed(state: str) -> None:
        now[0] += 10
        gh.add_review(ORG, REPO, 1, "amy", state.upper())
        ops.deliver(
            "pull_request_review", review_payload(1, reviewer="amy", author="alice", state=state)
        )

    try:
        reviewed("approved")
        assert ops.labels(1) == ["approved"]
        now[0] += 10
        ops.comment(1, "/approve cancel", commenter="amy", author="alice")
        assert ops.labels(1) == []  # the comment came after the review
        reviewed("approved")
        assert ops.labels(1) == ["approved"]
        reviewed("changes_requested")
        assert ops.labels(1) == []
        (note,) = notifiers(ops)
        assert "Approved by: nobody yet" in note
    finally:
        ops.worker.close()


def test_without_the_option_a_review_does_not_approve(ops: ChatOps) -> None:
    ops.gh.add_review(ORG, REPO, 1, "amy", "APPROVED")
    ops.deliver(
        "pull_request_review", review_payload(1, reviewer="amy", author="alice", state="approved")
    )
    ops.deliver(
        "pull_request", pr_payload("synchronize", 1, author="alice", head_sha=sha("head-1"))
    )
    (note,) = notifiers(ops)
    assert "Approved by: nobody yet" in note


def test_owners_are_read_at_the_base_branch_as_it_is_now_not_at_the_pr_base_sha(
    ops: ChatOps,
) -> None:
    """An approver removed from OWNERS on the base branch cannot approve an older PR: GitHub's
    `base.sha` stays where the PR last saw its base (Prow reads the branch's OWNERS too)."""
    gh = ops.gh
    gh.add_pull(ORG, REPO, 5, author="alice", head_sha=sha("head-5"), files=["a/5.py"])
    old = gh.repo(ORG, REPO).branches["main"]
    gh.set_file(ORG, REPO, "a/OWNERS", "approvers: [amy]\n", ref=old)
    gh.repo(ORG, REPO).branches["main"] = sha("main moved on")
    gh.set_file(ORG, REPO, "a/OWNERS", "approvers: [ann]\noptions: {no_parent_owners: true}\n")
    ops.comment(5, "/approve", commenter="amy", author="alice")
    assert ops.labels(5) == []
    ops.comment(5, "/approve", commenter="ann", author="alice")
    assert ops.labels(5) == ["approved"]
