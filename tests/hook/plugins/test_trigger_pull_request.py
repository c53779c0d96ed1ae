"""Pull request events through the real worker, a real database and the GitHub double."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.doubles.github_state import FileChange
from tests.hook.plugins.trigger_env import (
    BOT,
    ORG,
    REPO,
    Harness,
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


def open_pr(
    h: Harness,
    number: int,
    author: str = "alice",
    files: tuple[str, ...] = ("src/app.py",),
    *,
    labels: tuple[str, ...] = (),
    base_ref: str = "main",
    draft: bool = False,
) -> str:
    """Seed the pull request on the double, then deliver its `opened` event."""
    head = sha(f"head-{number}-{author}")
    h.gh.add_pull(
        ORG,
        REPO,
        number,
        author=author,
        head_sha=head,
        files=list(files),
        labels=labels,
        base_ref=base_ref,
    )
    h.gh.pull(ORG, REPO, number).draft = draft
    payload = pr_payload(
        "opened",
        number,
        author=author,
        head_sha=head,
        base_ref=base_ref,
        labels=labels,
        draft=draft,
    )
    return h.deliver("pull_request", payload)


def test_opened_by_member_creates_the_automatic_jobs_once(
    db: Database, github_double: GitHubDouble, tmp_path: Path
) -> None:
    """The key scenario, on SQLite and PostgreSQL: jobs, their records, and redelivery."""
    seed_github(github_double)
    h = make_harness(db, github_double, tmp_path)
    try:
        delivery = open_pr(h, 7, files=("src/app.py",))
        jobs = h.jobs(7)
        # unit: always_run; lint: a non-markdown file changed; docs: no docs/ change;
        # e2e: only on request; release-check: other branches only.
        assert sorted(j.name for j in jobs) == ["lint", "unit"]
        base_sha = github_double.repo(ORG, REPO).branches["main"]
        head = sha("head-7-alice")
        for job in jobs:
            assert job.type == "presubmit" and job.state == "triggered"
            assert (job.org, job.repo, job.pull_number) == (ORG, REPO, 7)
            assert (job.base_ref, job.base_sha) == ("main", base_sha)
            assert job.cause == delivery
            assert job.dedupe_key == f"{delivery}:{job.name}"
            assert job.trigger_reason == "pull_request opened by alice"
            assert job.context == job.name
            assert job.job_config["name"] == job.name
            assert job.job_config["spec"]["containers"][0]["image"] == "alpine"
            pull = job.pulls[0]
            assert pull["number"] == 7 and pull["sha"] == head and pull["author"] == "alice"
            assert pull["title"] == "Change 7" and pull["ref"] == "refs/pull/7/head"
            assert job.refs is not None and job.refs["base_sha"] == base_sha
        unit = next(j for j in jobs if j.name == "unit")
        assert unit.job_config["spec"]["containers"][0]["command"] == ["make", "test"]
        assert not github_double.comments(ORG, REPO, 7)  # a trusted PR gets no comment

        # The same event handled again (a crash before its commit): nothing doubles.
        h.redeliver(delivery)
        h.redeliver(delivery)
        assert [j.id for j in h.jobs(7)] == [j.id for j in jobs]
    finally:
        h.worker.close()


def test_run_if_changed_runs_only_when_a_file_matches(harness: Harness) -> None:
    open_pr(harness, 1, files=("docs/guide.md",))
    # docs/ changed -> docs; only markdown changed -> no lint.
    assert harness.names(1) == ["docs", "unit"]
    open_pr(harness, 2, files=("README.md", "src/x.py"))
    assert harness.names(2) == ["lint", "unit"]
    # The changed files were fetched once per event, not once per job.
    calls = harness.gh.calls("pulls/list-files")
    assert calls == [
        f"GET /repos/{ORG}/{REPO}/pulls/1/files",
        f"GET /repos/{ORG}/{REPO}/pulls/2/files",
    ]


def test_renamed_file_counts_under_its_old_name(harness: Harness) -> None:
    head = sha("rename")
    harness.gh.add_pull(
        ORG,
        REPO,
        3,
        author="alice",
        head_sha=head,
        files=[FileChange("guide.md", "renamed", previous_filename="docs/guide.md")],
    )
    harness.deliver("pull_request", pr_payload("opened", 3, author="alice", head_sha=head))
    assert harness.names(3) == ["docs", "unit"]


def test_branches_select_jobs_by_base_branch(harness: Harness) -> None:
    open_pr(harness, 4, base_ref="release-1.0", files=("src/a.py",))
    assert harness.names(4) == ["lint", "release-check", "unit"]
    assert {j.base_ref for j in harness.jobs(4)} == {"release-1.0"}
    open_pr(harness, 5, base_ref="main", files=("src/a.py",))
    assert "release-check" not in harness.names(5)


def test_collaborator_is_trusted(harness: Harness) -> None:
    open_pr(harness, 6, author="carol")
    assert harness.names(6) == ["lint", "unit"]


def test_untrusted_author_gets_label_and_one_welcome_comment(harness: Harness) -> None:
    delivery = open_pr(harness, 8, author="mallory")
    assert harness.jobs(8) == []
    assert harness.gh.issue_labels(ORG, REPO, 8) == ["needs-ok-to-test"]
    comments = harness.bot_comments(8)
    assert len(comments) == 1
    assert comments[0].startswith("Hi @mallory. Thanks for your PR.")
    assert "/ok-to-test" in comments[0] and "https://github.com/orgs/acme/people" in comments[0]

    harness.redeliver(delivery)
    assert len(harness.bot_comments(8)) == 1
    assert harness.gh.issue_labels(ORG, REPO, 8) == ["needs-ok-to-test"]
    assert harness.jobs(8) == []


def test_untrusted_pr_already_ok_to_test_gets_no_needs_label(harness: Harness) -> None:
    open_pr(harness, 9, author="mallory", labels=("ok-to-test",))
    # Prow: the opened event itself only welcomes; the `labeled` event runs the jobs.
    assert harness.jobs(9) == []
    assert harness.gh.issue_labels(ORG, REPO, 9) == ["ok-to-test"]
    assert len(harness.bot_comments(9)) == 1


def test_draft_by_member_runs_nothing_and_says_so_once(harness: Harness) -> None:
    delivery = open_pr(harness, 10, draft=True)
    assert harness.jobs(10) == []
    assert len(harness.bot_comments(10)) == 1
    assert harness.bot_comments(10)[0].startswith("Skipping CI for Draft Pull Request.")
    harness.redeliver(delivery)
    assert len(harness.bot_comments(10)) == 1

    head = sha("head-10-alice")
    harness.gh.pull(ORG, REPO, 10).draft = False
    harness.deliver(
        "pull_request", pr_payload("ready_for_review", 10, author="alice", head_sha=head)
    )
    assert harness.names(10) == ["lint", "unit"]


def test_synchronize_aborts_old_jobs_and_triggers_for_the_new_head(harness: Harness) -> None:
    open_pr(harness, 11)
    old = harness.jobs(11)
    harness.set_job_state(old[0].id, "pending")  # one running, one still queued
    new_head = sha("second push")
    harness.gh.pull(ORG, REPO, 11).head_sha = new_head
    delivery = harness.deliver(
        "pull_request", pr_payload("synchronize", 11, author="alice", head_sha=new_head)
    )
    jobs = {j.id: j for j in harness.jobs(11)}
    for job in old:
        assert jobs[job.id].state == "aborted"
        assert jobs[job.id].description == f"superseded by new push {new_head}"
        assert jobs[job.id].finished_at is not None
    fresh = [j for j in jobs.values() if j.cause == delivery]
    assert sorted(j.name for j in fresh) == ["lint", "unit"]
    assert all(j.state == "triggered" and j.pulls[0]["sha"] == new_head for j in fresh)
    assert fresh[0].trigger_reason == "pull_request synchronize by alice"

    # Redelivering the push neither aborts the new jobs nor creates more.
    harness.redeliver(delivery)
    assert {j.id: j.state for j in harness.jobs(11)} == {j.id: j.state for j in jobs.values()}


def test_synchronize_of_untrusted_pr_aborts_but_runs_nothing(harness: Harness) -> None:
    open_pr(harness, 12, author="mallory")
    harness.deliver(
        "pull_request", pr_payload("synchronize", 12, author="mallory", head_sha=sha("m2"))
    )
    assert harness.jobs(12) == []


def test_finished_jobs_are_not_aborted(harness: Harness) -> None:
    open_pr(harness, 13)
    unit = next(j for j in harness.jobs(13) if j.name == "unit")
    harness.set_job_state(unit.id, "success")
    harness.deliver(
        "pull_request", pr_payload("closed", 13, author="alice", head_sha=sha("head-13-alice"))
    )
    states = {j.name: j.state for j in harness.jobs(13)}
    assert states == {"unit": "success", "lint": "aborted"}
    assert next(j for j in harness.jobs(13) if j.name == "lint").description == (
        "Aborted: the pull request was closed."
    )


def test_converted_to_draft_aborts(harness: Harness) -> None:
    open_pr(harness, 14)
    harness.deliver(
        "pull_request",
        pr_payload("converted_to_draft", 14, author="alice", head_sha=sha("h"), draft=True),
    )
    assert {j.state for j in harness.jobs(14)} == {"aborted"}


def test_closing_one_pr_leaves_other_prs_alone(harness: Harness) -> None:
    open_pr(harness, 15)
    open_pr(harness, 16)
    harness.deliver("pull_request", pr_payload("closed", 15, author="alice", head_sha=sha("x")))
    assert {j.state for j in harness.jobs(16)} == {"triggered"}


def test_reopened_runs_again_if_trusted(harness: Harness) -> None:
    open_pr(harness, 17)
    first = harness.deliver(
        "pull_request", pr_payload("reopened", 17, author="alice", head_sha=sha("head-17-alice"))
    )
    assert sorted(j.name for j in harness.jobs(17, cause=first)) == ["lint", "unit"]


def test_ok_to_test_label_by_member_runs_and_by_stranger_does_not(harness: Harness) -> None:
    open_pr(harness, 18, author="mallory")
    head = sha("head-18-mallory")
    harness.gh.add_label(ORG, REPO, "ok-to-test")
    harness.gh.repo(ORG, REPO).issues[18].labels.append("ok-to-test")
    harness.deliver(
        "pull_request",
        pr_payload(
            "labeled",
            18,
            author="mallory",
            head_sha=head,
            sender="mallory",
            label="ok-to-test",
            labels=("needs-ok-to-test", "ok-to-test"),
        ),
    )
    assert harness.jobs(18) == []  # the author cannot vouch for themself

    delivery = harness.deliver(
        "pull_request",
        pr_payload(
            "labeled",
            18,
            author="mallory",
            head_sha=head,
            sender="alice",
            label="ok-to-test",
            labels=("needs-ok-to-test", "ok-to-test"),
        ),
    )
    jobs = harness.jobs(18)
    assert sorted(j.name for j in jobs) == ["lint", "unit"]
    assert jobs[0].trigger_reason == "pull_request labeled ok-to-test by alice"
    assert jobs[0].cause == delivery
    assert harness.gh.issue_labels(ORG, REPO, 18) == ["ok-to-test"]

    # The bot's own label (from an /ok-to-test comment) starts nothing more.
    harness.deliver(
        "pull_request",
        pr_payload("labeled", 18, author="mallory", head_sha=head, sender=BOT, label="ok-to-test"),
    )
    assert len(harness.jobs(18)) == 2


def test_other_labels_and_actions_do_nothing(harness: Harness) -> None:
    open_pr(harness, 19, author="mallory")
    requests = len(harness.gh.requests)
    for action, label in [("labeled", "kind/bug"), ("assigned", None), ("edited", None)]:
        harness.deliver(
            "pull_request",
            pr_payload(action, 19, author="mallory", head_sha=sha("y"), label=label),
        )
    assert harness.jobs(19) == []
    assert len(harness.gh.requests) == requests  # decided without asking GitHub


def test_edited_base_branch_retests(harness: Harness) -> None:
    open_pr(harness, 20)
    payload = pr_payload("edited", 20, author="alice", head_sha=sha("head-20-alice"))
    payload["changes"] = {"base": {"ref": {"from": "develop"}, "sha": {"from": sha("old")}}}
    delivery = harness.deliver("pull_request", payload)
    assert sorted(j.name for j in harness.jobs(20, cause=delivery)) == ["lint", "unit"]


def test_unmergeable_pr_starts_nothing(harness: Harness) -> None:
    head = sha("conflict")
    harness.gh.add_pull(ORG, REPO, 21, author="alice", head_sha=head, files=["a.py"])
    payload = pr_payload("opened", 21, author="alice", head_sha=head)
    payload["pull_request"]["mergeable"] = False
    harness.deliver("pull_request", payload)
    assert harness.jobs(21) == []


def test_repository_without_jobs_is_left_alone(harness: Harness) -> None:
    harness.gh.add_repo(ORG, "other")
    harness.gh.add_pull(ORG, "other", 1, author="mallory", head_sha=sha("o"))
    harness.deliver(
        "pull_request", pr_payload("opened", 1, author="mallory", head_sha=sha("o"), repo="other")
    )
    assert harness.jobs() == []
    assert harness.gh.comments(ORG, "other", 1) == []


def test_lgtm_runs_an_untrusted_pr_once_and_a_trusted_one_not_again(harness: Harness) -> None:
    """Prow: `lgtm` on a PR that is not trusted runs its presubmits; a trusted PR already ran."""
    open_pr(harness, 40, author="mallory")
    head = sha("head-40-mallory")
    harness.gh.add_label(ORG, REPO, "lgtm")
    harness.gh.repo(ORG, REPO).issues[40].labels.append("lgtm")
    payload = pr_payload(
        "labeled", 40, author="mallory", head_sha=head, sender="alice", label="lgtm"
    )
    harness.deliver("pull_request", payload)
    jobs = harness.jobs(40)
    assert sorted(j.name for j in jobs) == ["lint", "unit"]
    assert jobs[0].trigger_reason == "pull_request labeled by alice (untrusted PR, lgtm)"

    open_pr(harness, 41, author="alice")
    assert len(harness.jobs(41)) == 2
    harness.gh.repo(ORG, REPO).issues[41].labels.append("lgtm")
    payload = pr_payload(
        "labeled", 41, author="alice", head_sha=sha("head-41-alice"), sender="bob", label="lgtm"
    )
    harness.deliver("pull_request", payload)
    assert len(harness.jobs(41)) == 2
