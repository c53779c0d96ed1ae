"""Tide on GitHub, through the contract-checked double: the merge API, the `tide` status, and
an issue with the blocker label holding every merge of its repository."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from foredeck.config import load_config
from foredeck.db.engine import session_factory, write_lock
from foredeck.db.jobs import JobCreate, create_job
from foredeck.scm.github_provider import GitHubProvider
from foredeck.settings import GitHubSettings
from foredeck.tide import Tide
from foredeck.tide.tide import in_repo_setting
from foredeck.types import Pull, Refs
from tests.db.fixtures import Database
from tests.doubles import github_api
from tests.doubles.github_api import GitHubDouble

github_double = github_api.github_double

BASE = "b" * 40
READY, WAITING = "1" * 40, "2" * 40
CONFIG = """\
presubmits:
  acme/widget:
  - name: unit
    always_run: true
    spec: {containers: [{image: alpine}]}
tide:
  merge_method: {acme: squash}
  blocker_label: tide/merge-blocker
  queries:
  - repos: [acme/widget]
    labels: [lgtm, approved]
"""


def passed_on_base(db: Database, number: int, head: str) -> None:
    """`unit` passed for the pull request on the current base (as a run of foredeck's)."""
    refs = Refs(
        org="acme",
        repo="widget",
        base_ref="main",
        base_sha=BASE,
        pulls=[Pull(number=number, sha=head)],
    )
    spec = JobCreate(name="unit", type="presubmit", state="success", refs=refs, context="unit")
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        create_job(session, spec)


def make_tide(
    db: Database,
    gh: GitHubDouble,
    tmp_path: Path,
    config: str = CONFIG,
    in_repo: Callable[[str, str], bool] | None = None,
) -> Tide:
    gh.add_repo("acme", "widget", branches={"main": BASE})
    gh.add_pull("acme", "widget", 1, head_sha=READY, labels=["lgtm", "approved"])
    gh.add_pull("acme", "widget", 2, head_sha=WAITING, labels=["lgtm"])

    async def green() -> None:
        async with gh.client() as client:
            for sha in (READY, WAITING):
                await client.create_status("acme", "widget", sha, "success", "unit")

    asyncio.run(green())
    passed_on_base(db, 1, READY)
    path = tmp_path / "jobs.yaml"
    path.write_text(config)
    jobs = load_config([path]).jobs
    settings = GitHubSettings(base_url=gh.url, token=SecretStr(gh.token))
    provider = GitHubProvider(settings)
    return Tide(
        db.engine, lambda: jobs, provider, dashboard_url="https://ci.example", in_repo=in_repo
    )


@pytest.fixture
def tide(sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path) -> Tide:
    return make_tide(sqlite_db, github_double, tmp_path)


def tide_statuses(gh: GitHubDouble, sha: str) -> list[tuple[str, str | None, str | None]]:
    return [
        (s.state, s.description, s.target_url)
        for s in gh.statuses("acme", "widget", sha)
        if s.context == "tide"
    ]


def test_a_ready_pull_merges_through_the_merge_api(tide: Tide, github_double: GitHubDouble) -> None:
    result = tide.sync_once()
    assert result.merged == [("acme/widget", 1)]
    assert github_double.merges == [("acme/widget", 1, "squash")]
    assert tide_statuses(github_double, WAITING) == [
        ("pending", "Not mergeable. Needs approved label.", "https://ci.example/tide")
    ]
    assert tide_statuses(github_double, READY) == []  # merged: no status needed
    again = tide.sync_once()
    assert again.merged == [] and again.statuses == 0  # nothing changed: nothing written


def test_a_repository_with_in_repo_presubmits_is_never_merged_and_says_why(
    sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path
) -> None:
    """Its `.foredeck.yaml` presubmits are not among Tide's required contexts: merging on the
    central ones alone would let a failing in-repo job through, so nothing merges."""
    trigger = {"in_repo_config": False, "repos": {"acme/widget": {"in_repo_config": True}}}
    tide = make_tide(sqlite_db, github_double, tmp_path, in_repo=in_repo_setting(trigger))
    assert tide.sync_once().merged == []
    assert github_double.merges == []
    ((state, description, _),) = tide_statuses(github_double, READY)
    assert description is not None
    assert state == "pending" and "in-repo presubmits (.foredeck.yaml) are not read" in description
    assert not in_repo_setting(
        {"in_repo_config": True, "repos": {"acme": {"in_repo_config": False}}}
    )("acme", "widget")
    assert in_repo_setting({"in_repo_config": True})("acme", "widget")
    assert not in_repo_setting(None)("acme", "widget")


def test_an_issue_with_the_blocker_label_holds_every_merge(
    tide: Tide, github_double: GitHubDouble
) -> None:
    github_double.add_issue(
        "acme", "widget", 9, title="Release freeze", labels=["tide/merge-blocker"]
    )
    assert tide.sync_once().merged == []
    assert github_double.merges == []
    ((state, description, _),) = tide_statuses(github_double, READY)
    assert (state, description) == ("pending", "Not mergeable. Merging is blocked by issue #9.")


def test_a_check_run_rerun_blocks_the_merge_until_it_is_green(
    sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path
) -> None:
    """GitHub Actions jobs are check runs: a required one that failed and is rerun (a new run,
    queued) keeps the pull request from merging until the rerun succeeds."""
    gh = github_double
    config = CONFIG + "  context_options: {required-contexts: [build]}\n"
    tide = make_tide(sqlite_db, gh, tmp_path, config)
    assert tide.sync_once().merged == []
    assert tide_statuses(gh, READY)[-1][1] == "Not mergeable. Waiting for build."
    gh.add_check_run("acme", "widget", READY, "build", conclusion="failure")
    assert tide.sync_once().merged == []
    gh.add_check_run("acme", "widget", READY, "build", status="queued", conclusion=None)
    assert tide.sync_once().merged == []
    ((_, description, _),) = tide_statuses(gh, READY)[-1:]
    assert description == "Not mergeable. Job build is pending."
    gh.add_check_run("acme", "widget", READY, "build")
    assert tide.sync_once().merged == [("acme/widget", 1)]


def test_review_approved_required_needs_an_approval_and_no_change_request(
    sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path
) -> None:
    gh = github_double
    config = CONFIG.replace("    labels: [lgtm, approved]", "    reviewApprovedRequired: true")
    tide = make_tide(sqlite_db, gh, tmp_path, config)
    assert tide.sync_once().merged == []
    assert tide_statuses(gh, READY)[-1][1] == "Not mergeable. Needs an approving review."
    gh.add_review("acme", "widget", 1, "carol", "APPROVED")
    gh.add_review("acme", "widget", 1, "dave", "CHANGES_REQUESTED")
    assert tide.sync_once().merged == []
    gh.add_review("acme", "widget", 1, "dave", "APPROVED")  # dave changed his mind
    assert tide.sync_once().merged == [("acme/widget", 1)]
