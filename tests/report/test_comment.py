"""The report comment: one per pull request, created, edited and deleted as jobs fail and pass."""

from __future__ import annotations

from typing import Any

import pytest

from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.testresults import CaseOutcome, record_run
from foredeck.report import MARKER, Reporter
from foredeck.report.comment import MAX_ROWS, failed_jobs, head_sha, render
from foredeck.report.queries import JobView
from foredeck.scm.github_types import GitHubError, IssueComment
from foredeck.scm.provider import ScmClient
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import Settings
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.doubles.github_state import CommentState
from tests.report.jobs import (
    DASH,
    HEAD,
    NEW_HEAD,
    ORG,
    PR,
    REPO,
    add,
    forget_reports,
    get,
    move,
    presubmit,
)

HEADER = "Test name | Commit | Details | Required | Rerun command"


def ours(gh: GitHubDouble) -> list[CommentState]:
    return [c for c in gh.comments(ORG, REPO, PR) if MARKER in c.body]


def rows(comment: CommentState) -> list[str]:
    lines = comment.body.splitlines()
    start = lines.index(HEADER) + 2
    end = lines.index("", start)
    return lines[start:end]


async def test_comment_lifecycle(gh: GitHubDouble, db: Database, reporter: Reporter) -> None:
    config = {"optional": True, "rerun_command": "/test lint please"}
    unit = add(db.engine, presubmit("unit"), "pending")
    lint = add(db.engine, presubmit("lint", config=config), "pending")
    add(db.engine, presubmit("e2e"), "pending", "success")
    await reporter.report_pending()
    assert ours(gh) == []  # nothing failed: no comment

    move(db.engine, unit, "failure")
    await reporter.report_pending()
    [comment] = ours(gh)
    assert comment.user == "foredeck-bot"
    assert comment.body.startswith(MARKER + "\n@alice: The following test **failed**")
    assert rows(comment) == [f"unit | bbbbbbb | [link]({DASH}/jobs/{unit}) | true | `/test unit`"]
    assert "/retest" in comment.body and "[Full PR test history]" in comment.body

    move(db.engine, lint, "error")
    await reporter.report_pending()
    [edited] = ours(gh)
    assert edited.id == comment.id
    assert "following tests **failed**" in edited.body
    assert rows(edited) == [
        f"lint | bbbbbbb | [link]({DASH}/jobs/{lint}) | false | `/test lint please`",
        f"unit | bbbbbbb | [link]({DASH}/jobs/{unit}) | true | `/test unit`",
    ]

    # A rerun of unit: while it runs the failure stays; once it passes, its row goes.
    rerun = add(db.engine, presubmit("unit"), "pending")
    await reporter.report_pending()
    assert rows(ours(gh)[0]) == rows(edited)
    move(db.engine, rerun, "success")
    await reporter.report_pending()
    [comment] = ours(gh)
    assert comment.id == edited.id
    assert [r.split(" | ")[0] for r in rows(comment)] == ["lint"]

    add(db.engine, presubmit("lint", config=config), "pending", "success")
    await reporter.report_pending()
    assert ours(gh) == []
    assert gh.calls("issues/create-comment") == [f"POST /repos/{ORG}/{REPO}/issues/{PR}/comments"]


async def test_aborted_counts_as_failed_but_superseded_and_skip_report_do_not(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    add(db.engine, presubmit("unit"), "aborted")
    add(db.engine, presubmit("old"), "aborted", suppress_report=True)
    add(db.engine, presubmit("quiet", config={"skip_report": True}), "failure")
    await reporter.report_pending()
    [comment] = ours(gh)
    assert [r.split(" | ")[0] for r in rows(comment)] == ["unit"]


async def test_only_the_current_head_counts(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    add(db.engine, presubmit("unit"), "failure")
    await reporter.report_pending()
    assert len(ours(gh)) == 1
    # A new push: the old failure no longer matters once a job on the new head reports.
    add(db.engine, presubmit("unit", sha=NEW_HEAD), "pending", "success")
    await reporter.report_pending()
    assert ours(gh) == []


async def test_one_comment_after_a_crash_between_sending_and_recording(
    gh: GitHubDouble, db: Database, reporter: Reporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = add(db.engine, presubmit("unit"), "failure")

    def crash(*_: object) -> bool:
        raise RuntimeError("killed before the record committed")

    crashing = Reporter(db.engine, gh.client, dashboard_url=DASH, retry_backoff=0)
    monkeypatch.setattr(crashing._store, "record", crash)
    try:
        assert await crashing.report_pending() == 0
    finally:
        await crashing.aclose()
    assert len(ours(gh)) == 1 and get(db.engine, unit).reported_state is None

    assert await reporter.report_pending() == 1  # the restarted reporter
    forget_reports(db.engine)
    assert await reporter.report_pending() == 1  # and once more for good measure
    [comment] = ours(gh)
    assert len(gh.statuses(ORG, REPO, HEAD)) == 3
    assert gh.calls("issues/update-comment") == []  # the same body: nothing to edit
    assert rows(comment)[0].startswith("unit | ")


async def test_duplicates_left_behind_are_removed(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    add(db.engine, presubmit("unit"), "failure")
    first = gh.add_comment(ORG, REPO, PR, f"{MARKER}\nstale", author="foredeck-bot")
    second = gh.add_comment(ORG, REPO, PR, f"{MARKER}\nstale too", author="foredeck-bot")
    await reporter.report_pending()
    [comment] = ours(gh)
    assert comment.id == first.id and comment.id != second.id
    assert rows(comment)[0].startswith("unit | ")


@pytest.mark.parametrize("configured", [None, "foredeck-bot"])
async def test_a_comment_quoting_the_marker_is_not_ours(
    gh: GitHubDouble, db: Database, configured: str | None
) -> None:
    quoted = gh.add_comment(ORG, REPO, PR, f"why does {MARKER} show up?", author="mallory")
    unit = add(db.engine, presubmit("unit"), "failure")
    rep = Reporter(db.engine, gh.client, dashboard_url=DASH, bot_login=configured)
    try:
        await rep.report_pending()
        comments = gh.comments(ORG, REPO, PR)
        assert [c.user for c in comments] == ["mallory", "foredeck-bot"]
        add(db.engine, presubmit("unit"), "success")
        await rep.report_pending()
    finally:
        await rep.aclose()
    # Ours is gone; mallory's is untouched. Unconfigured, the login came from the statuses.
    assert [(c.id, c.body) for c in gh.comments(ORG, REPO, PR)] == [(quoted.id, quoted.body)]
    assert rep.bot_login == "foredeck-bot"
    assert get(db.engine, unit).reported_state == "failure"


class _CommentsDown:
    def __init__(self, inner: ScmClient) -> None:
        self._inner = inner
        self.down = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def list_issue_comments(self, owner: str, repo: str, number: int) -> list[IssueComment]:
        if self.down:
            raise GitHubError(503, "Service Unavailable")
        return await self._inner.list_issue_comments(owner, repo, number)


async def test_a_failed_comment_update_leaves_the_job_due(gh: GitHubDouble, db: Database) -> None:
    clients: list[_CommentsDown] = []

    def factory() -> ScmClient:
        clients.append(_CommentsDown(gh.client()))
        return clients[-1]

    rep = Reporter(db.engine, factory, dashboard_url=DASH, retry_backoff=0)
    try:
        unit = add(db.engine, presubmit("unit"), "failure")
        assert await rep.report_pending() == 0
        assert get(db.engine, unit).reported_state is None
        assert ours(gh) == []
        clients[0].down = False
        assert await rep.report_pending() == 1
    finally:
        await rep.aclose()
    assert len(ours(gh)) == 1
    assert get(db.engine, unit).reported_state == "failure"


def test_bot_login_from_settings(db: Database) -> None:
    """The reporter writes as its SCM provider's configured bot (`scm.bot_login` locally,
    `plugin_config.trigger.bot_login` on GitHub)."""
    token = {"github": {"token": "t0ken"}}
    local = Settings.model_validate({"scm": {"provider": "local", "bot_login": "ci"}})
    github = Settings.model_validate(
        {"plugin_config": {"trigger": {"bot_login": "ci-bot"}}, **token}
    )
    for settings, bot in (
        (local, "ci"),
        (github, "ci-bot"),
        (Settings.model_validate(token), None),
    ):
        scm = provider_from_settings(settings, db.engine)
        assert Reporter.from_settings(settings, db.engine, scm).bot_login == bot


def _view(job_id: int, name: str, state: str = "failure", **kw: Any) -> JobView:
    values: dict[str, Any] = {
        "id": job_id,
        "name": name,
        "type": "presubmit",
        "state": state,
        "reported_state": None,
        "suppress_report": False,
        "org": ORG,
        "repo": REPO,
        "base_sha": None,
        "pull_number": PR,
        "pulls": [{"number": PR, "sha": HEAD, "author": "alice"}],
        "job_config": {},
        "context": None,
        "description": None,
    }
    values.update(kw)
    return JobView(**values)


def test_table_cells_are_escaped_and_long_tables_cut() -> None:
    odd = _view(1, "odd", context="a|b\nc", job_config={"rerun_command": "/test `odd`"})
    body = render(ORG, REPO, PR, [odd], DASH)
    assert body is not None
    assert f"a\\|b c | bbbbbbb | [link]({DASH}/jobs/1) | true | `/test 'odd'`" in body

    many = [_view(i, f"job-{i:03}") for i in range(1, MAX_ROWS + 6)]
    body = render(ORG, REPO, PR, many, DASH)
    assert body is not None and len(body) < 65536
    assert body.count("[link](") == MAX_ROWS
    assert "… and 5 more" in body
    assert render(ORG, REPO, PR, [], DASH) is None


def test_failed_jobs_take_the_latest_finished_run_on_the_head() -> None:
    jobs = [  # newest first, as ReportStore.pull_jobs returns them
        _view(6, "unit", "pending"),  # a rerun still going: the previous result stands
        _view(5, "lint", "aborted", suppress_report=True),  # superseded: as if never run
        _view(4, "unit", "failure"),
        _view(3, "lint", "success"),
        _view(2, "e2e", "failure", pulls=[{"number": PR, "sha": "0" * 40}]),  # an older head
        _view(1, "lint", "failure"),
    ]
    assert [j.id for j in failed_jobs(jobs)] == [4]
    assert head_sha(jobs) == HEAD


def _record(db: Database, job_id: int, cases: dict[str, str]) -> None:
    """The run's tests, as the controller records them with its final state."""
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        record_run(session, job_id, [CaseOutcome(n, s) for n, s in cases.items()])


async def test_a_failure_in_known_flaky_tests_is_marked(
    gh: GitHubDouble, db: Database, reporter: Reporter
) -> None:
    first = add(db.engine, presubmit("unit"), "pending", "failure")
    _record(db, first, {"t.flaky": "failed", "t.ok": "passed"})
    rerun = add(db.engine, presubmit("unit"), "pending", "success")
    _record(db, rerun, {"t.flaky": "passed", "t.ok": "passed"})
    again = add(db.engine, presubmit("unit"), "pending", "failure")
    _record(db, again, {"t.flaky": "failed", "t.ok": "passed"})
    real = add(db.engine, presubmit("lint"), "pending", "failure")
    _record(db, real, {"t.lint": "failed"})
    await reporter.report_pending()
    [comment] = ours(gh)
    assert [r.split(" | ")[0] for r in rows(comment)] == ["lint", "unit (known flake)"]
    assert "Known flakes:" in comment.body
    assert "- unit: `t.flaky`" in comment.body.splitlines()
    assert "t.lint" not in comment.body
