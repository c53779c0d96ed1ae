"""In-repo config read from the merged tree of a real git repository (no network)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.trigger_env import (
    ORG,
    REPO,
    Harness,
    make_harness,
    pr_payload,
    push_payload,
    seed_github,
)
from tests.kit.git import Repo

BASE_CONFIG = """\
presubmits:
- name: inrepo-base
  always_run: true
  spec: {containers: [{image: busybox}]}
postsubmits:
- name: inrepo-post
  branches: ['^main$']
  spec: {containers: [{image: busybox}]}
"""

PR_CONFIG = """\
presubmits:
- name: inrepo-base
  always_run: true
  spec: {containers: [{image: busybox}]}
- name: inrepo-new
  always_run: true
  spec: {containers: [{image: busybox}]}
- name: unit
  always_run: true
  spec: {containers: [{image: evil}]}
"""


@pytest.fixture
def upstream(tmp_path: Path) -> Repo:
    """A local repository standing in for GitHub's: `main` and `refs/pull/N/head`."""
    files = {"README.md": "hello\n", ".foredeck.yaml": BASE_CONFIG}
    return Repo(tmp_path / "upstream" / ORG / REPO, files, "initial")


@pytest.fixture
def harness(
    sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path, upstream: Repo
) -> Iterator[Harness]:
    seed_github(github_double)
    github_double.repo(ORG, REPO).branches["main"] = upstream.git("rev-parse", "main")
    options = {
        "repos": {ORG: {"in_repo_config": False}, f"{ORG}/{REPO}": {"in_repo_config": True}},
        "clone_uris": {f"{ORG}/{REPO}": str(upstream.path)},
    }
    h = make_harness(sqlite_db, github_double, tmp_path, options=options)
    yield h
    h.worker.close()


def open_pr(h: Harness, number: int, head: str) -> str:
    h.gh.add_pull(ORG, REPO, number, author="alice", head_sha=head, files=[".foredeck.yaml"])
    return h.deliver("pull_request", pr_payload("opened", number, author="alice", head_sha=head))


def test_jobs_come_from_the_merged_tree(
    harness: Harness, upstream: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    head = upstream.pull(1, {".foredeck.yaml": PR_CONFIG})
    with caplog.at_level(logging.WARNING, logger="foredeck"):
        delivery = open_pr(harness, 1, head)
    # Central unit and lint, the base's in-repo job, and the one this PR adds.
    assert harness.names(1) == ["inrepo-base", "inrepo-new", "lint", "unit"]
    unit = next(j for j in harness.jobs(1) if j.name == "unit")
    assert unit.job_config["spec"]["containers"][0]["image"] == "alpine"  # central wins
    assert any("in-repo presubmit ignored" in r.getMessage() for r in caplog.records)
    assert harness.plugin.in_repo.loads == 1

    # The same tree is not checked out again: a redelivery and a comment use the cache.
    harness.redeliver(delivery)
    harness.comment(1, "/test inrepo-new", commenter="alice", author="alice")
    assert harness.plugin.in_repo.loads == 1
    assert harness.names(1).count("inrepo-new") == 2


def test_push_reads_postsubmits_from_the_pushed_commit(harness: Harness, upstream: Repo) -> None:
    after = upstream.git("rev-parse", "main")
    harness.deliver("push", push_payload("refs/heads/main", after, files=["README.md"]))
    assert harness.names() == ["inrepo-post", "publish"]


def test_invalid_in_repo_config_falls_back_to_central_jobs(
    harness: Harness, upstream: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    head = upstream.pull(2, {".foredeck.yaml": "presubmits:\n- name: [not, a, name]\n"})
    with caplog.at_level(logging.WARNING, logger="foredeck"):
        open_pr(harness, 2, head)
    assert harness.names(2) == ["lint", "unit"]
    assert any("is invalid; central jobs only" in r.getMessage() for r in caplog.records)


def test_invalid_in_repo_config_gets_an_error_status_and_one_comment(
    harness: Harness, upstream: Repo
) -> None:
    bad = "presubmits:\n- name: ok\n  always_run: yes\n  run_if_changed: x\n  pipeline: ci.yaml\n"
    head = upstream.pull(4, {".foredeck.yaml": bad})
    delivery = open_pr(harness, 4, head)
    assert harness.names(4) == ["lint", "unit"]  # central jobs still run
    statuses = [s for s in harness.gh.statuses(ORG, REPO, head) if s.context == "foredeck/config"]
    assert [s.state for s in statuses] == ["error"]
    problem = ".foredeck.yaml:4: job ok: always_run and run_if_changed are mutually exclusive"
    assert statuses[0].description == problem
    (comment,) = harness.bot_comments(4)
    assert problem in comment
    assert head[:12] in comment

    # Redelivery and later events on the same head do not repeat the comment.
    harness.redeliver(delivery)
    harness.comment(4, "/test unit", commenter="alice", author="alice")
    assert len(harness.bot_comments(4)) == 1

    # A new push with another error updates that one comment.
    head2 = upstream.pull(5, {".foredeck.yaml": "presubmits:\n- {name: a b, pipeline: ci.yaml}\n"})
    harness.gh.add_pull(ORG, REPO, 4, author="alice", head_sha=head2, files=[".foredeck.yaml"])
    upstream.git("update-ref", "refs/pull/4/head", head2)
    harness.deliver("pull_request", pr_payload("synchronize", 4, author="alice", head_sha=head2))
    (comment,) = harness.bot_comments(4)
    assert ".foredeck.yaml:2: job a b: name must match regex" in comment
    assert [s.state for s in harness.gh.statuses(ORG, REPO, head2)] == ["error"]


def test_conflicting_pr_falls_back_to_central_jobs(
    harness: Harness, upstream: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    head = upstream.pull(3, {"README.md": "theirs\n"})
    upstream.commit("moves main on", {"README.md": "ours\n"})
    harness.gh.repo(ORG, REPO).branches["main"] = upstream.git("rev-parse", "main")
    with caplog.at_level(logging.WARNING, logger="foredeck"):
        open_pr(harness, 3, head)
    assert harness.names(3) == ["lint", "unit"]
    assert any("checkout failed" in r.getMessage() for r in caplog.records)


CATCH_ALL_CONFIG = """\
presubmits:
- name: grabber
  trigger: '(?m)^/'
  rerun_command: /hold
  spec: {containers: [{image: evil}]}
"""


def test_a_member_chat_op_on_an_untrusted_pr_does_not_run_its_in_repo_jobs(
    harness: Harness, upstream: Repo
) -> None:
    """An untrusted PR's own trigger cannot turn a member's `/hold` into a run of its code:
    only test commands, or a trigger of the central config, ask for jobs (as in Prow)."""
    head = upstream.pull(6, {".foredeck.yaml": CATCH_ALL_CONFIG})
    harness.gh.add_pull(ORG, REPO, 6, author="mallory", head_sha=head, files=[".foredeck.yaml"])
    harness.deliver("pull_request", pr_payload("opened", 6, author="mallory", head_sha=head))
    assert harness.names(6) == []
    for command in ("/hold", "/lgtm", "/assign", "/kind bug"):
        harness.comment(6, command, commenter="alice", author="mallory")
    assert harness.names(6) == []
    harness.comment(6, "/test grabber", commenter="alice", author="mallory")
    assert harness.names(6) == ["grabber"]  # asked for by name: the member's decision

    # Once the PR is trusted (`ok-to-test`), its in-repo triggers count like any other.
    harness.gh.add_pull(
        ORG,
        REPO,
        6,
        author="mallory",
        head_sha=head,
        files=[".foredeck.yaml"],
        labels=["ok-to-test"],
    )
    harness.comment(6, "/grab", commenter="alice", author="mallory")
    assert harness.names(6) == ["grabber", "grabber"]
