"""Tide on GitHub, through the contract-checked double: the merge API, the `tide` status, and
an issue with the blocker label holding every merge of its repository."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from foredeck.config import load_config
from foredeck.db.engine import session_factory, write_lock
from foredeck.db.jobs import JobCreate, create_job
from foredeck.scm.github_provider import GitHubProvider
from foredeck.settings import GitHubSettings
from foredeck.tide import Tide
from foredeck.tide.inrepo import in_repo_options
from foredeck.types import Pull, Refs
from tests.db.fixtures import Database
from tests.doubles import github_api
from tests.doubles.github_api import GitHubDouble
from tests.kit.git import Repo

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


def passed_on_base(
    db: Database, number: int, head: str, name: str = "unit", base: str = BASE
) -> None:
    """`name` passed for the pull request on the current base (as a run of foredeck's)."""
    refs = Refs(
        org="acme",
        repo="widget",
        base_ref="main",
        base_sha=base,
        pulls=[Pull(number=number, sha=head)],
    )
    spec = JobCreate(name=name, type="presubmit", state="success", refs=refs, context=name)
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        create_job(session, spec)


def make_tide(
    db: Database,
    gh: GitHubDouble,
    tmp_path: Path,
    config: str = CONFIG,
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
    return Tide(db.engine, lambda: jobs, provider, dashboard_url="https://ci.example")


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


def test_in_repo_presubmits_are_required_on_github(
    sqlite_db: Database, github_double: GitHubDouble, tmp_path: Path
) -> None:
    """The `.foredeck.yaml` of the pull request merged on its base is read from where jobs
    clone from (`clone_uris` here: GitHub's `refs/pull/N/head` in a local repository), and its
    presubmit `lint` is required besides the central `unit`."""
    gh = github_double
    lint = "presubmits:\n- {name: lint, always_run: true, spec: {containers: [{image: a}]}}\n"
    origin = Repo(tmp_path / "origin", {"README": "hi\n", ".foredeck.yaml": lint})
    base = origin.head()
    head = origin.pull(1, {"a.txt": "a\n"})
    gh.add_repo("acme", "widget", branches={"main": base})
    gh.add_pull("acme", "widget", 1, head_sha=head, labels=["lgtm", "approved"])
    (tmp_path / "jobs.yaml").write_text(CONFIG)
    jobs = load_config([tmp_path / "jobs.yaml"]).jobs
    trigger = {
        "repos": {"acme/widget": {"in_repo_config": True}},
        "clone_uris": {"acme/widget": str(origin.path)},
        "cache_dir": str(tmp_path / "cache"),
    }
    provider = GitHubProvider(GitHubSettings(base_url=gh.url, token=SecretStr(gh.token)))
    tide = Tide(sqlite_db.engine, lambda: jobs, provider, in_repo=in_repo_options(trigger))
    for name in ("unit", "lint"):
        passed_on_base(sqlite_db, 1, head, name=name, base=base)

    async def status(context: str) -> None:
        async with gh.client() as client:
            await client.create_status("acme", "widget", head, "success", context)

    asyncio.run(status("unit"))
    assert tide.sync_once().merged == []
    assert tide_statuses(gh, head)[-1][:2] == ("pending", "Not mergeable. Waiting for lint.")
    asyncio.run(status("lint"))
    assert tide.sync_once().merged == [("acme/widget", 1)]
    assert tide.in_repo_reads == 1  # the same tree in both syncs: read once


def test_in_repo_options_are_the_triggers() -> None:
    repos = {"acme": {"in_repo_config": False}}
    assert not in_repo_options({"in_repo_config": True, "repos": repos}).in_repo_enabled(
        "acme", "widget"
    )
    assert in_repo_options({"in_repo_config": True, "bot_login": "x"}).in_repo_enabled("a", "b")
    assert not in_repo_options(None).in_repo_enabled("acme", "widget")
    with pytest.raises(ValueError, match=r"(?s)plugin_config.trigger: .*in_repo_config"):
        in_repo_options({"in_repo_config": "sometimes"})


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
