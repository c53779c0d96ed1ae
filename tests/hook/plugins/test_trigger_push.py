"""Push events: postsubmits for branches and tags, nothing for deletions."""

from __future__ import annotations

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
    push_payload,
    seed_github,
    sha,
)


@pytest.fixture
def harness(sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path) -> Iterator[Harness]:
    seed_github(github_double)
    h = make_harness(sqlite_db, github_double, tmp_path)
    yield h
    h.worker.close()


def test_push_to_main_runs_matching_postsubmits_once(harness: Harness) -> None:
    after = sha("main 2")
    delivery = harness.deliver(
        "push", push_payload("refs/heads/main", after, files=["docs/a.md", "src/b.py"])
    )
    jobs = harness.jobs()
    assert sorted(j.name for j in jobs) == ["docs-publish", "publish"]
    for job in jobs:
        assert job.type == "postsubmit" and job.state == "triggered"
        assert (job.org, job.repo, job.base_ref, job.base_sha) == (ORG, REPO, "main", after)
        assert job.pull_number is None and job.pulls == []
        assert job.trigger_reason == "push to main by alice"
        assert job.dedupe_key == f"{delivery}:{job.name}"
        assert job.refs is not None and job.refs["base_link"].endswith(after[:12])
    harness.redeliver(delivery)
    assert len(harness.jobs()) == 2


def test_changed_files_of_all_pushed_commits_count(harness: Harness) -> None:
    payload = push_payload("refs/heads/main", sha("m3"), files=["README.md"])
    second = dict(payload["commits"][0], id=sha("c2"), added=[], modified=[], removed=["docs/x"])
    payload["commits"].append(second)
    harness.deliver("push", payload)
    assert harness.names() == ["docs-publish", "publish"]


def test_push_to_other_branch_matches_branch_filters(harness: Harness) -> None:
    harness.deliver("push", push_payload("refs/heads/dev", sha("d1"), files=["README.md"]))
    assert harness.jobs() == []
    harness.deliver("push", push_payload("refs/heads/dev", sha("d2"), files=["docs/y.md"]))
    assert harness.names() == ["docs-publish"]


def test_branch_deletion_runs_nothing(harness: Harness) -> None:
    before = len(harness.gh.requests)
    harness.deliver("push", push_payload("refs/heads/main", sha("gone"), deleted=True))
    assert harness.jobs() == []
    assert len(harness.gh.requests) == before


def test_tag_runs_only_jobs_whose_branches_match(harness: Harness) -> None:
    harness.deliver("push", push_payload("refs/tags/v1.0", sha("tag"), files=["docs/z.md"]))
    # publish is for ^main$; docs-publish has no branch filter, so (as in Prow) tags match it.
    [job] = harness.jobs()
    assert job.name == "docs-publish"
    assert job.base_ref == "refs/tags/v1.0"  # kept fetchable for the checkout
