"""Pull request comments (`/test`, `/retest`, `/ok-to-test`, ...) through the real worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.trigger_env import (
    BOT,
    ORG,
    REPO,
    Harness,
    comment_payload,
    make_harness,
    pr_payload,
    seed_github,
    sha,
)


@pytest.fixture
def harness(sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path) -> Iterator[Harness]:
    seed_github(github_double)
    h = make_harness(sqlite_db, github_double, tmp_path)
    yield h
    h.worker.close()


def pr(
    h: Harness,
    number: int,
    author: str = "alice",
    files: tuple[str, ...] = ("src/app.py",),
    labels: tuple[str, ...] = (),
    *,
    deliver: bool = True,
) -> None:
    head = sha(f"head-{number}")
    h.gh.add_pull(ORG, REPO, number, author=author, head_sha=head, files=list(files), labels=labels)
    if deliver:
        h.deliver("pull_request", pr_payload("opened", number, author=author, head_sha=head))


def test_ok_to_test_by_member_runs_jobs_and_swaps_labels(harness: Harness) -> None:
    pr(harness, 1, author="mallory")
    assert harness.gh.issue_labels(ORG, REPO, 1) == ["needs-ok-to-test"]
    delivery = harness.comment(1, "Looks fine.\n/ok-to-test", commenter="alice", author="mallory")
    jobs = harness.jobs(1)
    assert sorted(j.name for j in jobs) == ["lint", "unit"]
    assert {j.trigger_reason for j in jobs} == {"/ok-to-test by alice"}
    assert {j.cause for j in jobs} == {delivery}
    assert harness.gh.issue_labels(ORG, REPO, 1) == ["ok-to-test"]

    harness.redeliver(delivery)
    assert len(harness.jobs(1)) == 2
    assert harness.gh.issue_labels(ORG, REPO, 1) == ["ok-to-test"]

    # From now on the PR is trusted: a new push runs without asking again.
    new_head = sha("push 2")
    harness.gh.pull(ORG, REPO, 1).head_sha = new_head
    harness.deliver(
        "pull_request", pr_payload("synchronize", 1, author="mallory", head_sha=new_head)
    )
    assert sorted(j.name for j in harness.jobs(1, state="triggered")) == ["lint", "unit"]


def test_ok_to_test_by_non_member_does_nothing_but_answer_once(harness: Harness) -> None:
    pr(harness, 2, author="mallory")
    for commenter in ("mallory", "eve"):
        delivery = harness.comment(2, "/ok-to-test", commenter=commenter, author="mallory")
        harness.redeliver(delivery)
    assert harness.jobs(2) == []
    assert harness.gh.issue_labels(ORG, REPO, 2) == ["needs-ok-to-test"]
    replies = harness.bot_comments(2)[1:]  # after the welcome message
    assert len(replies) == 2  # one per comment, not per delivery attempt
    assert replies[0].startswith("@mallory: Cannot trigger testing until a trusted user")
    assert replies[1].startswith("@eve: Cannot trigger testing")
    assert ">/ok-to-test" in replies[1]


def test_test_name_runs_exactly_the_named_jobs(harness: Harness) -> None:
    pr(harness, 3, deliver=False)
    delivery = harness.comment(3, "/test e2e", commenter="alice", author="alice")
    jobs = harness.jobs(3)
    assert [j.name for j in jobs] == ["e2e"]
    assert jobs[0].trigger_reason == "/test e2e by alice"
    assert jobs[0].dedupe_key == f"{delivery}:e2e"
    harness.comment(3, "/test e2e lint", commenter="carol", author="alice")
    assert harness.names(3) == ["e2e", "e2e", "lint"]
    # /test NAME forces a job regardless of its file filter (docs: no docs/ change here).
    harness.comment(3, "/test docs", commenter="alice", author="alice")
    assert harness.names(3).count("docs") == 1
    # Not for jobs whose branches do not match.
    harness.comment(3, "/test release-check", commenter="alice", author="alice")
    assert "release-check" not in harness.names(3)


def test_jobs_started_by_a_command_record_the_links_of_a_webhook_start(harness: Harness) -> None:
    """`/test` reads the pull request through the REST API: its author link must not be lost
    (the webhook path records it from the payload)."""
    pr(harness, 2, author="carol", deliver=False)
    harness.comment(2, "/test unit", commenter="alice", author="carol")
    (job,) = harness.jobs(2)
    pull = job.pulls[0]
    assert pull["author"] == "carol"
    assert pull["author_link"] == "https://github.com/carol"
    assert pull["link"] == f"https://github.com/{ORG}/{REPO}/pull/2"
    assert job.refs is not None and job.refs["repo_link"] == f"https://github.com/{ORG}/{REPO}"


def test_test_all_honours_file_filters(harness: Harness) -> None:
    pr(harness, 4, files=("docs/a.md",), deliver=False)
    harness.comment(4, "/test all", commenter="alice", author="alice")
    assert harness.names(4) == ["docs", "unit"]  # not e2e (explicit), not lint (only .md)


def test_unknown_job_lists_the_available_ones_once(harness: Harness) -> None:
    pr(harness, 5, deliver=False)
    delivery = harness.comment(5, "/test nope", commenter="alice", author="alice")
    harness.redeliver(delivery)
    assert harness.jobs(5) == []
    [answer] = harness.bot_comments(5)
    assert answer.startswith("@alice: The specified target(s) for `/test` were not found.")
    required = answer.split("required jobs:")[1].split("\n\n")[0]
    optional = answer.split("optional jobs:")[1].split("\n\n")[0]
    assert required.split() == [
        "*",
        "`/test",
        "docs`",
        "*",
        "`/test",
        "e2e`",
        "*",
        "`/test",
        "unit`",
    ]
    assert optional.split() == ["*", "`/test", "lint`"]
    assert "release-check" not in answer  # cannot run against main
    assert "`/test all` to run the following jobs that were automatically triggered" in answer
    assert "\n* `lint`\n* `unit`" in answer

    # A later successful /test removes the stale list (Prow prunes it too).
    harness.comment(5, "/test unit", commenter="alice", author="alice")
    assert harness.bot_comments(5) == []
    assert harness.names(5) == ["unit"]


def test_bare_test_and_question_mark_answer_with_help(harness: Harness) -> None:
    pr(harness, 6, deliver=False)
    harness.comment(6, "/test", commenter="alice", author="alice")
    harness.comment(6, "/test ?", commenter="alice", author="alice")
    harness.comment(6, "/retest unit", commenter="alice", author="alice")
    answers = harness.bot_comments(6)
    assert len(answers) == 3
    assert answers[0].startswith("@alice: The `/test` command needs one or more targets.")
    assert answers[1].startswith("@alice: The following commands are available")
    assert answers[2].startswith("@alice: The `/retest` command does not accept any targets.")
    assert harness.jobs(6) == []


def test_retest_reruns_only_failed_jobs_on_the_current_head(
    db: Database, github_double: GitHubDouble, tmp_path: Path
) -> None:
    seed_github(github_double)
    h = make_harness(db, github_double, tmp_path)
    try:
        pr(h, 7)
        jobs = {j.name: j for j in h.jobs(7)}
        h.set_job_state(jobs["unit"].id, "failure")
        h.set_job_state(jobs["lint"].id, "success")
        delivery = h.comment(7, "/retest", commenter="alice", author="alice")
        rerun = h.jobs(7, cause=delivery)
        assert [j.name for j in rerun] == ["unit"]
        assert rerun[0].trigger_reason == "/retest by alice"

        # The rerun is the latest unit run now, and it has not failed: nothing to retest.
        h.comment(7, "/retest", commenter="alice", author="alice")
        assert len(h.jobs(7)) == 3
        h.set_job_state(rerun[0].id, "error")
        h.set_job_state(jobs["lint"].id, "aborted")
        third = h.comment(7, "/retest", commenter="alice", author="alice")
        assert sorted(j.name for j in h.jobs(7, cause=third)) == ["lint", "unit"]
    finally:
        h.worker.close()


def test_retest_ignores_failures_of_older_heads(harness: Harness) -> None:
    pr(harness, 8)
    for job in harness.jobs(8):
        harness.set_job_state(job.id, "failure" if job.name == "unit" else "success")
    harness.gh.pull(ORG, REPO, 8).head_sha = sha("new head")
    delivery = harness.comment(8, "/retest", commenter="alice", author="alice")
    # Nothing ran on the new head yet: /retest starts what /test all would, like Prow.
    assert sorted(j.name for j in harness.jobs(8, cause=delivery)) == ["lint", "unit"]
    assert {j.pulls[0]["sha"] for j in harness.jobs(8, cause=delivery)} == {sha("new head")}


def test_retest_required_skips_optional_jobs(harness: Harness) -> None:
    pr(harness, 9)
    for job in harness.jobs(9):
        harness.set_job_state(job.id, "failure")
    delivery = harness.comment(9, "/retest-required", commenter="alice", author="alice")
    assert [j.name for j in harness.jobs(9, cause=delivery)] == ["unit"]


def test_author_of_trusted_pr_may_test_but_strangers_may_not(harness: Harness) -> None:
    pr(harness, 10, author="mallory", labels=("ok-to-test",), deliver=False)
    harness.comment(10, "/test e2e", commenter="mallory", author="mallory")
    assert harness.names(10) == ["e2e"]
    harness.comment(10, "/test e2e", commenter="eve", author="mallory")
    assert harness.names(10) == ["e2e"]
    [answer] = harness.bot_comments(10)
    assert answer.startswith("@eve: Only trusted users and the author of this pull request")


def test_untrusted_author_cannot_test_own_untrusted_pr(harness: Harness) -> None:
    pr(harness, 11, author="mallory")
    harness.comment(11, "/test all", commenter="mallory", author="mallory")
    assert harness.jobs(11) == []
    assert harness.bot_comments(11)[-1].startswith("@mallory: Cannot trigger testing")


def test_member_may_test_an_untrusted_pr_without_trusting_it(harness: Harness) -> None:
    pr(harness, 12, author="mallory")
    harness.comment(12, "/test unit", commenter="alice", author="mallory")
    assert harness.names(12) == ["unit"]
    assert harness.gh.issue_labels(ORG, REPO, 12) == ["needs-ok-to-test"]


def test_ok_to_test_cancel(harness: Harness) -> None:
    pr(harness, 13, author="mallory")
    harness.comment(13, "/ok-to-test", commenter="alice", author="mallory")
    assert harness.gh.issue_labels(ORG, REPO, 13) == ["ok-to-test"]
    harness.comment(13, "/ok-to-test cancel", commenter="mallory", author="mallory")
    assert harness.gh.issue_labels(ORG, REPO, 13) == ["ok-to-test"]
    assert harness.bot_comments(13)[-1].startswith("@mallory: Only trusted users can revoke")
    harness.comment(13, "/ok-to-test cancel", commenter="alice", author="mallory")
    assert harness.gh.issue_labels(ORG, REPO, 13) == ["needs-ok-to-test"]
    assert len(harness.jobs(13)) == 2  # only the /ok-to-test run


def test_comments_that_are_not_commands_cost_no_api_call(harness: Harness) -> None:
    pr(harness, 14, deliver=False)
    cases = [
        ("created", "open", "LGTM, thanks!"),
        ("created", "open", "```\n/test all\n```"),  # quoted in a code block
        ("edited", "open", "/test all"),
        ("deleted", "open", "/test all"),
        ("created", "closed", "/test all"),
    ]
    before = len(harness.gh.requests)
    for action, state, body in cases:
        payload = comment_payload(
            14, body, commenter="alice", author="alice", comment_id=1, action=action, state=state
        )
        harness.deliver("issue_comment", payload)
    # The bot's own comments and comments on plain issues are skipped too.
    harness.deliver(
        "issue_comment",
        comment_payload(14, "/test all", commenter=BOT, author="alice", comment_id=2),
    )
    issue = comment_payload(14, "/test all", commenter="alice", author="alice", comment_id=3)
    del issue["issue"]["pull_request"]
    harness.deliver("issue_comment", issue)
    assert len(harness.gh.requests) == before
    assert harness.jobs(14) == []


def test_comments_work_on_drafts(harness: Harness) -> None:
    pr(harness, 15, deliver=False)
    harness.gh.pull(ORG, REPO, 15).draft = True
    harness.comment(15, "/test all", commenter="alice", author="alice")
    assert harness.names(15) == ["lint", "unit"]


def test_unmergeable_pr_runs_nothing_on_request(harness: Harness) -> None:
    pr(harness, 16, deliver=False)
    harness.gh.pull(ORG, REPO, 16).mergeable = False
    harness.comment(16, "/test unit", commenter="alice", author="alice")
    assert harness.jobs(16) == []
