"""Commit statuses: what is sent for each state, on which commit, once, and in order."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from foredeck.report import Reporter
from foredeck.scm.github_types import CommitStatus, GitHubError, StatusState
from foredeck.scm.provider import ScmClient
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.report.jobs import (
    DASH,
    HEAD,
    ORG,
    PR,
    REPO,
    add,
    forget_reports,
    get,
    move,
    periodic,
    postsubmit,
    presubmit,
)


def sent(gh: GitHubDouble, sha: str = HEAD) -> list[tuple[str, str, str | None]]:
    return [(s.context, s.state, s.description) for s in gh.statuses(ORG, REPO, sha)]


async def test_pending_while_triggered_and_running_then_success(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    job_id = add(db.engine, presubmit("unit"))
    assert await reporter.report_pending() == 1
    move(db.engine, job_id, "pending")
    assert await reporter.report_pending() == 1
    move(db.engine, job_id, "success")
    assert await reporter.report_pending() == 1

    assert sent(gh) == [
        ("unit", "pending", "Job triggered."),
        ("unit", "pending", "Job running."),
        ("unit", "success", "Job succeeded."),
    ]
    status = gh.statuses(ORG, REPO, HEAD)[-1]
    assert status.target_url == f"{DASH}/jobs/{job_id}"
    job = get(db.engine, job_id)
    assert job.reported_state == "success" and job.reported_at is not None


async def test_reporting_twice_sends_nothing_new(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    add(db.engine, presubmit("unit"), "pending", "success")
    add(db.engine, presubmit("lint"), "pending")
    assert await reporter.report_pending() == 2
    requests = len(gh.requests)
    assert await reporter.report_pending() == 0
    assert len(gh.requests) == requests


async def test_pending_is_skipped_when_the_job_already_finished(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    add(db.engine, presubmit("unit"), "pending", "success")
    await reporter.report_pending()
    assert sent(gh) == [("unit", "success", "Job succeeded.")]


async def test_aborted_is_a_failure_and_error_an_error(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    add(db.engine, presubmit("unit"), "aborted", description="Aborted by /cancel.")
    add(db.engine, presubmit("lint"), "pending", "error", description="x" * 300)
    await reporter.report_pending()
    statuses = {s.context: s for s in gh.statuses(ORG, REPO, HEAD)}
    assert (statuses["unit"].state, statuses["unit"].description) == (
        "failure",
        "Aborted by /cancel.",
    )
    assert statuses["lint"].state == "error"
    assert statuses["lint"].description == "x" * 139 + "…"


async def test_context_comes_from_the_job(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    add(db.engine, presubmit("unit", context="ci/unit-tests"), "failure")
    await reporter.report_pending()
    assert [s.context for s in gh.statuses(ORG, REPO, HEAD)] == ["ci/unit-tests"]


async def test_skip_report_and_suppressed_jobs_send_nothing(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    quiet = add(db.engine, presubmit("quiet", config={"skip_report": True}), "failure")
    silent = add(db.engine, presubmit("silent", config={"report": False}), "pending")
    superseded = add(db.engine, presubmit("old"), "aborted", suppress_report=True)
    add(db.engine, presubmit("unit"), "success")

    await reporter.report_pending()
    assert sent(gh) == [("unit", "success", "Job succeeded.")]
    assert gh.comments(ORG, REPO, PR) == []  # a skip-report failure makes no comment either
    assert get(db.engine, quiet).reported_state == "failure"  # recorded, never picked again
    assert get(db.engine, silent).reported_state == "pending"
    assert get(db.engine, superseded).reported_state is None  # never reported, not even final

    requests = len(gh.requests)
    assert await reporter.report_pending() == 0
    assert len(gh.requests) == requests


async def test_suppressed_after_pending_gets_no_final_status(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    job_id = add(db.engine, presubmit("unit"), "pending")
    await reporter.report_pending()
    move(db.engine, job_id, "aborted", suppress_report=True)
    await reporter.report_pending()
    assert sent(gh) == [("unit", "pending", "Job running.")]


async def test_postsubmit_reports_on_the_pushed_commit_and_periodics_not_at_all(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    pushed = "d" * 40
    add(db.engine, postsubmit("build", sha=pushed), "pending", "success")
    nightly = add(db.engine, periodic("nightly"), "pending", "failure")
    await reporter.report_pending()
    assert sent(gh, pushed) == [("build", "success", "Job succeeded.")]
    assert len(gh.statuses(ORG, REPO)) == 1
    assert get(db.engine, nightly).reported_state == "failure"
    assert await reporter.report_pending() == 0


class _Hooked:
    """An SCM client that runs `hook` before each status it passes on to the real one."""

    def __init__(self, inner: ScmClient, hook: Any) -> None:
        self._inner = inner
        self._hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def create_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        state: StatusState,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> CommitStatus:
        self._hook(context, state)
        return await self._inner.create_status(
            owner, repo, sha, state, context, description, target_url
        )


async def test_a_job_finishing_during_its_pending_report_ends_with_the_final_status(
    gh: GitHubDouble, db: Database
) -> None:
    job_id = add(db.engine, presubmit("unit"), "pending")

    def finish_during_first_send(context: str, state: str) -> None:
        if state == "pending":
            move(db.engine, job_id, "failure")

    rep = Reporter(
        db.engine, lambda: _Hooked(gh.client(), finish_during_first_send), dashboard_url=DASH
    )
    try:
        assert await rep.report_pending() == 1
    finally:
        await rep.aclose()
    assert sent(gh) == [("unit", "pending", "Job running."), ("unit", "failure", "Job failed.")]
    assert get(db.engine, job_id).reported_state == "failure"


async def test_after_a_crash_before_recording_the_status_is_sent_again(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    add(db.engine, presubmit("unit"), "success")
    await reporter.report_pending()
    forget_reports(db.engine)
    assert await reporter.report_pending() == 1
    assert sent(gh) == [("unit", "success", "Job succeeded.")] * 2


async def test_an_scm_error_on_one_job_does_not_stop_the_others(
    gh: GitHubDouble, db: Database
) -> None:
    broken = {"bad"}
    now = [100.0]

    def fail_bad(context: str, state: str) -> None:
        if context in broken:
            raise GitHubError(422, "Validation Failed")

    registry = CollectorRegistry()
    rep = Reporter(
        db.engine,
        lambda: _Hooked(gh.client(), fail_bad),
        dashboard_url=DASH,
        retry_backoff=10.0,
        clock=lambda: now[0],
        registry=registry,
    )
    try:
        bad = add(db.engine, presubmit("bad"), "success")
        add(db.engine, presubmit("good"), "success")
        assert await rep.report_pending() == 1
        assert sent(gh) == [("good", "success", "Job succeeded.")]
        assert get(db.engine, bad).reported_state is None

        broken.clear()
        now[0] += 5.0  # still backing off: not retried
        assert await rep.report_pending() == 0
        now[0] += 5.0
        assert await rep.report_pending() == 1
        assert [c for c, _, _ in sent(gh)] == ["good", "bad"]
        assert get(db.engine, bad).reported_state == "success"
    finally:
        await rep.aclose()
    labels = {"state": "success"}
    sample = registry.get_sample_value
    assert sample("foredeck_reporter_reports_total", {**labels, "result": "failed"}) == 1
    assert sample("foredeck_reporter_reports_total", {**labels, "result": "sent"}) == 2


async def test_the_state_sent_is_the_one_at_send_time_not_at_scan_time(
    gh: GitHubDouble, db: Database, reporter: Reporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = add(db.engine, presubmit("unit"), "pending")
    scan = reporter._store.due

    def scan_then_finish(after_id: int, limit: int) -> list[Any]:
        found = scan(after_id, limit)
        if found:
            move(db.engine, job_id, "success")  # the controller finishes it right after the scan
        return found

    monkeypatch.setattr(reporter._store, "due", scan_then_finish)
    assert await reporter.report_pending() == 1
    assert sent(gh) == [("unit", "success", "Job succeeded.")]
