"""Links and figures shown on the pages, computed from job rows.

Every URL that comes from data (a job's refs) passes `safe_href`: autoescaping stops markup, but
not a `javascript:` link. A link the refs do not carry comes from the SCM provider's web links
(`WebLinks`): GitHub's pages, or this dashboard's own for the local provider.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

from foredeck.db.models import Job


class WebLinks(Protocol):
    """The SCM's pages of a pull request and of a commit (`ScmProvider.links`)."""

    def pull(self, org: str, repo: str, number: int) -> str: ...
    def commit(self, org: str, repo: str, sha: str) -> str: ...


def safe_href(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL, else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url


def seg(value: object) -> str:
    """One URL path segment (slashes escaped)."""
    return quote(str(value), safe="")


def view_url(job_id: int) -> str:
    return f"/view/{job_id}"


def job_tests_url(name: str) -> str:
    """The job's test grid."""
    return f"/job-tests/{seg(name)}"


def job_history_url(name: str) -> str:
    return f"/job-history/{seg(name)}"


def pr_history_url(org: str, repo: str, number: int) -> str:
    return f"/pr-history/{seg(org)}/{seg(repo)}/{number}"


def query_url(path: str, params: dict[str, Any]) -> str:
    """`path?params`, leaving out empty values (lists repeat the key)."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((key, str(v)) for v in values if v is not None and v != "")
    return f"{path}?{urlencode(pairs)}" if pairs else path


def first_pull(job: Job) -> dict[str, Any] | None:
    pulls = job.pulls or []
    return pulls[0] if pulls else None


def pull_links(job: Job, web: WebLinks) -> list[tuple[int, str | None]]:
    """(number, link) of each pull the job tests."""
    links: list[tuple[int, str | None]] = []
    for pull in job.pulls or []:
        number = pull.get("number")
        if not isinstance(number, int):
            continue
        link = safe_href(pull.get("link"))
        if link is None and job.org and job.repo:
            link = safe_href(web.pull(job.org, job.repo, number))
        links.append((number, link))
    return links


def commit(job: Job, web: WebLinks) -> tuple[str, str | None] | None:
    """(sha, link) of the commit the job tests: the pull's head, else the base."""
    pull = first_pull(job)
    sha = str(pull.get("sha") or "") if pull else ""
    explicit = safe_href(pull.get("commit_link")) if pull else None
    if not sha:
        sha = job.base_sha or ""
        explicit = None
    if not sha:
        return None
    if explicit is None and job.org and job.repo:
        explicit = safe_href(web.commit(job.org, job.repo, sha))
    return sha, explicit


def authors(job: Job) -> list[str]:
    return [str(p["author"]) for p in job.pulls or [] if p.get("author")]


def duration_seconds(job: Job, now: datetime | None = None) -> float | None:
    """Run time: started to finished, or to now while running."""
    if job.started_at is None:
        return None
    end = job.finished_at or now or datetime.now(UTC)
    return max(0.0, (end - job.started_at).total_seconds())


def format_duration(seconds: float | None) -> str:
    """One format for every duration the dashboard shows (tables, graph, charts), so they agree:
    sub-second precision (`350ms`, `4.2s`, `12s`), then `1m05s`, then `2h03m`."""
    if seconds is None:
        return ""
    if seconds < 0.9995:
        if seconds <= 0:
            return "0s"
        return f"{round(seconds * 1000)}ms" if seconds >= 0.0005 else "<1ms"
    if seconds < 59.95:
        return f"{seconds:.1f}".removesuffix(".0") + "s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def short_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""
