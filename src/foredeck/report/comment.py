"""The one report comment per pull request: Prow's `<!-- test report -->` table of failed jobs.

The body is a pure function of the database (the pull request's presubmits), never of what an
earlier comment said, so that recomputing it after a crash or twice in a row gives the same text
and editing is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from foredeck.report.queries import JobView
from foredeck.report.status import job_url
from foredeck.scm.github_types import IssueComment
from foredeck.scm.markers import REPORT

MARKER = REPORT  # what marks the report comment (`scm/markers.py`: the dashboard reads it)
FAILED_STATES = frozenset({"failure", "error", "aborted"})
MAX_ROWS = 200
"""GitHub caps comments at 65536 characters; rows past this are summarised in one line."""
MAX_FLAKY_TESTS = 5
"""Known flaky tests named per job."""


def head_sha(jobs: list[JobView]) -> str | None:
    """The pull request's current head as foredeck knows it: the newest presubmit's commit."""
    return jobs[0].head_sha if jobs else None


def failed_jobs(jobs: list[JobView]) -> list[JobView]:
    """The latest finished run of each job on the current head, where that run failed.

    `jobs` are the pull request's presubmits, newest first. A rerun still in progress leaves the
    previous result in place (as Prow's comment only changes when a run ends); superseded runs
    (`suppress_report`) count as never having run; `skip_report` jobs never appear.
    """
    head = head_sha(jobs)
    if head is None:
        return []
    latest: dict[str, JobView] = {}
    for job in jobs:
        if job.head_sha != head or not job.finished or job.suppress_report:
            continue
        latest.setdefault(job.name, job)
    failed = [j for j in latest.values() if j.state in FAILED_STATES and not j.skip_report]
    return sorted(failed, key=lambda j: (j.context or j.name, j.id))


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _row(job: JobView, dashboard_url: str, flaky: bool) -> str:
    config = job.job_config or {}
    name = _cell(job.context or job.name) + (" (known flake)" if flaky else "")
    sha = (job.head_sha or "")[:7]
    required = "false" if config.get("optional") else "true"
    rerun = config.get("rerun_command") or f"/test {job.name}"
    url = job_url(dashboard_url, job.id)
    return f"{name} | {sha} | [link]({url}) | {required} | `{_cell(str(rerun))}`"


def _flake_notes(failed: list[JobView], known: Mapping[int, list[str]]) -> list[str]:
    notes = []
    for job in failed[:MAX_ROWS]:
        tests = known.get(job.id)
        if tests:
            shown = ", ".join(f"`{_cell(t[:200])}`" for t in tests[:MAX_FLAKY_TESTS])
            more = (
                f" and {len(tests) - MAX_FLAKY_TESTS} more" if len(tests) > MAX_FLAKY_TESTS else ""
            )
            notes.append(f"- {_cell(job.context or job.name)}: {shown}{more}")
    if not notes:
        return []
    return [
        "",
        "Known flakes: every test that failed in these jobs failed and passed on one commit "
        "of the job recently; `/retest` may be all they need:",
        "",
        *notes,
    ]


def render(
    org: str,
    repo: str,
    number: int,
    failed: list[JobView],
    dashboard_url: str,
    known_flakes: Mapping[int, list[str]] | None = None,
) -> str | None:
    """The comment body for these failed jobs; None when nothing failed (no comment).

    `known_flakes`: the failed runs whose every failing test is a known flake, with the tests
    (`ReportStore.known_flakes`)."""
    known = known_flakes or {}
    if not failed:
        return None
    author = failed[0].author
    mention = f"@{author}: " if author else ""
    plural = "s" if len(failed) > 1 else ""
    lines = [
        MARKER,
        f"{mention}The following test{plural} **failed**, say `/retest` to rerun all failed "
        "tests or `/retest-required` to rerun all mandatory failed tests:",
        "",
        "Test name | Commit | Details | Required | Rerun command",
        "--- | --- | --- | --- | ---",
    ]
    lines += [_row(job, dashboard_url, job.id in known) for job in failed[:MAX_ROWS]]
    if len(failed) > MAX_ROWS:
        lines.append(f"… and {len(failed) - MAX_ROWS} more | | | |")
    lines += _flake_notes(failed, known)
    query = urlencode({"org": org, "repo": repo, "pull": number})
    lines += [
        "",
        f"[Full PR test history]({dashboard_url.rstrip('/')}/jobs?{query}).",
        "",
        "<details>",
        "",
        "Instructions for interacting with me using PR comments: `/test NAME` reruns one job "
        "(the rerun commands above), `/retest` reruns every failed job, `/retest-required` every "
        "failed job that is required, and `/test all` every job that would run automatically. "
        "I edit this comment as jobs are rerun and delete it once none fails.",
        "</details>",
    ]
    return "\n".join(lines)


def is_report(comment: IssueComment, bot_login: str | None) -> bool:
    """Whether `comment` is foredeck's report: it has the marker and, if the bot is known, the
    bot wrote it (a user quoting the marker does not make their comment ours)."""
    if MARKER not in comment.body:
        return False
    if bot_login is None:
        return True
    return comment.user.login.lower() == bot_login.lower()
