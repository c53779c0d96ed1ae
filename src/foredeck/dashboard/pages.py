"""The list pages: the job list, job history, PR history and the badge.

Handlers are synchronous (FastAPI runs them in its thread pool) and read through
`read_only(engine)` sessions (`web.deps.Reads`), so a busy dashboard never takes SQLite's write
lock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from foredeck.access.gate import RequestGate
from foredeck.bounds import MAX_INT, JobId, Offset, PullNumber
from foredeck.dashboard import links, pull_state, queries
from foredeck.dashboard.app import PageRoute, templates
from foredeck.dashboard.charts import duration_trend, result_bar
from foredeck.dashboard.deps import BotLogin, Links
from foredeck.dashboard.pr_grid import pr_grid
from foredeck.db.models import JOB_STATES, JOB_TYPES, Job, JobState, JobType
from foredeck.web.deps import Reads

ROWS_URL = "/dashboard/rows.json"
"""The job list's rows as JSON: the same filters and cursor as `/`."""
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_FIELD = 255


@dataclass(frozen=True)
class Filters:
    """The job list's filters, as given in the query string (empty fields mean "any")."""

    repo: str | None = None
    job: str | None = None
    type: JobType | None = None
    state: JobState | None = None
    author: str | None = None
    pr: int | None = None

    @classmethod
    def parse(cls, params: dict[str, str]) -> Filters:
        """Raises HTTPException(400) on a malformed value."""

        def text(key: str) -> str | None:
            value = params.get(key, "").strip()
            if len(value) > MAX_FIELD:
                raise HTTPException(400, f"{key} is too long")
            return value or None

        repo = text("repo")
        if repo is not None:
            org, sep, name = repo.partition("/")
            if not sep or not org or not name:
                raise HTTPException(400, "repo must look like org/repo")
        type_ = text("type")
        if type_ is not None and type_ not in JOB_TYPES:
            raise HTTPException(400, f"unknown job type {type_!r}")
        state = text("state")
        if state is not None and state not in JOB_STATES:
            raise HTTPException(400, f"unknown job state {state!r}")
        pr_text = text("pr")
        pr = None
        if pr_text is not None:
            # ASCII digits only: str.isdigit() also holds for "²", which int() refuses.
            if not (pr_text.isascii() and pr_text.isdecimal()) or int(pr_text) > MAX_INT:
                raise HTTPException(400, "pr must be a pull request number")
            pr = int(pr_text)
        return cls(
            repo=repo,
            job=text("job"),
            type=type_,
            state=state,
            author=text("author"),
            pr=pr,
        )

    def params(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "job": self.job,
            "type": self.type,
            "state": self.state,
            "author": self.author,
            "pr": self.pr,
        }

    def search(
        self,
        session: Session,
        *,
        limit: int,
        after_id: int | None,
        visible: queries.Visible = None,
    ) -> queries.Page:
        org = name = None
        if self.repo is not None:
            org, _, name = self.repo.partition("/")
        where = queries.JobFilter(
            org=org,
            repo=name,
            name=self.job,
            type=self.type,
            state=self.state,
            pull_number=self.pr,
            author=self.author,
        )
        return queries.list_page(session, where, limit=limit, after_id=after_id, visible=visible)


@dataclass(frozen=True)
class Row:
    """One job as the tables show it."""

    id: int
    name: str
    type: str
    state: str
    repo: str | None
    base_ref: str | None
    pulls: list[tuple[int, str | None]]
    commit: tuple[str, str | None] | None
    authors: list[str]
    description: str | None
    created: str
    created_iso: str
    started_iso: str
    finished_iso: str
    duration: str
    view: str
    history: str
    pr_history: str | None

    @classmethod
    def of(cls, job: Job, now: datetime, web: links.WebLinks) -> Row:
        repo = f"{job.org}/{job.repo}" if job.org and job.repo else None
        pr_history = (
            links.pr_history_url(job.org, job.repo, job.pull_number)
            if job.org and job.repo and job.pull_number is not None
            else None
        )
        return cls(
            id=job.id,
            name=job.name,
            type=job.type,
            state=job.state,
            repo=repo,
            base_ref=job.base_ref,
            pulls=links.pull_links(job, web),
            commit=links.commit(job, web),
            authors=links.authors(job),
            description=job.description,
            created=links.short_time(job.created_at),
            created_iso=links.iso(job.created_at),
            started_iso=links.iso(job.started_at),
            finished_iso=links.iso(job.finished_at),
            duration=links.format_duration(links.duration_seconds(job, now)),
            view=links.view_url(job.id),
            history=links.job_history_url(job.name),
            pr_history=pr_history,
        )


def _page_size(limit: int | None) -> int:
    return PAGE_SIZE if limit is None else max(1, min(limit, MAX_PAGE_SIZE))


BADGE_COLOURS = {"passing": "#4c1", "failing": "#e05d44", "unknown": "#9f9f9f"}


def badge_svg(label: str, status: str) -> str:
    """A shields.io-style flat badge; widths estimated at 7 px per character."""
    colour = BADGE_COLOURS.get(status, BADGE_COLOURS["unknown"])
    label = label[:60]
    left = 10 + 7 * len(label)
    right = 10 + 7 * len(status)
    width = left + right
    text_label = escape(label)
    text_status = escape(status)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{text_label}: {text_status}">'
        f"<title>{text_label}: {text_status}</title>"
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="5" y="14">{text_label}</text>'
        f'<text x="{left + 5}" y="14">{text_status}</text></g></svg>'
    )


def badge_status(state: str | None) -> str:
    if state == "success":
        return "passing"
    if state in ("failure", "error"):
        return "failing"
    return "unknown"


router = APIRouter(route_class=PageRoute)


def render(request: Request, name: str, context: dict[str, Any]) -> Response:
    return templates.TemplateResponse(request, name, context)


@router.get("/", include_in_schema=False)
def job_list(
    request: Request,
    reads: Reads,
    web: Links,
    gate: RequestGate,
    after: Offset | None = None,
    limit: Annotated[Offset | None, Query(ge=1)] = None,
) -> Response:
    filters = Filters.parse(dict(request.query_params))
    size = _page_size(limit)
    now = datetime.now(UTC)
    with reads() as session:
        found = filters.search(session, limit=size + 1, after_id=after, visible=gate.visible())
        rows = [Row.of(job, now, web) for job in found.jobs[:size]]
    params = filters.params()
    cursor = rows[-1].id if len(found.jobs) > size else found.searched_to
    older = links.query_url("/", {**params, "limit": limit, "after": cursor}) if cursor else None
    api = links.query_url(ROWS_URL, {**params, "limit": limit, "after": after})
    return render(
        request,
        "index.html",
        {
            "rows": rows,
            "filters": filters,
            "types": JOB_TYPES,
            "states": JOB_STATES,
            "older": older,
            "searched_to": found.searched_to if cursor == found.searched_to else None,
            "newest": links.query_url("/", {**params, "limit": limit}) if after else None,
            "api_url": api,
            "live": after is None,
            "search_value": filters.job or "",
        },
    )


@router.get(ROWS_URL, include_in_schema=False)
def job_rows(
    request: Request,
    reads: Reads,
    web: Links,
    gate: RequestGate,
    after: Offset | None = None,
    limit: Annotated[Offset | None, Query(ge=1)] = None,
) -> Response:
    """The rows of a job list page as JSON, for its live updates (`static/joblist.js`)."""
    filters = Filters.parse(dict(request.query_params))
    size = _page_size(limit)
    now = datetime.now(UTC)
    with reads() as session:
        found = filters.search(session, limit=size, after_id=after, visible=gate.visible())
        rows = [asdict(Row.of(job, now, web)) for job in found.jobs]
    return JSONResponse({"rows": rows}, headers={"Cache-Control": "no-store"})


@router.get("/job-history/{job:path}", include_in_schema=False)
def job_history(
    request: Request,
    job: str,
    reads: Reads,
    web: Links,
    gate: RequestGate,
    after: Offset | None = None,
    limit: Annotated[Offset | None, Query(ge=1)] = None,
) -> Response:
    if len(job) > MAX_FIELD:
        raise HTTPException(404, "no such job")
    size = _page_size(limit)
    now = datetime.now(UTC)
    with reads() as session:
        seen = gate.visible()
        jobs = queries.job_history(session, job, limit=size + 1, after_id=after, visible=seen)
        if not jobs and (after is None or not queries.job_exists(session, job, seen)):
            raise HTTPException(404, f"no runs of job {job!r}")
        page = jobs[:size]
        rows = [Row.of(j, now, web) for j in page]
        durations = [
            (j.id, links.duration_seconds(j, now), j.state)
            for j in reversed(page)
            if j.finished_at is not None
        ]
        results = [(j.id, j.state) for j in reversed(page)]
    history = links.job_history_url(job)
    finished = [state for _, state in results if state in ("success", "failure", "error")]
    return render(
        request,
        "job_history.html",
        {
            "job": job,
            "rows": rows,
            "bar": result_bar(results),
            "trend": duration_trend(durations),
            "passed": sum(1 for s in finished if s == "success"),
            "finished": len(finished),
            "older": links.query_url(history, {"limit": limit, "after": rows[-1].id})
            if len(jobs) > size
            else None,
            "newest": links.query_url(history, {"limit": limit}) if after else None,
            "list_url": links.query_url("/", {"job": job}),
            "badge_url": links.query_url("/badge.svg", {"job": job}),
        },
    )


@router.get("/pr-history/{org}/{repo}/{number}", include_in_schema=False)
def pr_history(
    request: Request,
    org: str,
    repo: str,
    number: PullNumber,
    reads: Reads,
    web: Links,
    gate: RequestGate,
    bot: BotLogin,
) -> Response:
    if len(org) > 100 or len(repo) > 100:
        raise HTTPException(404, "no such pull request")
    now = datetime.now(UTC)
    with reads() as session:
        jobs = queries.pr_runs(session, org, repo, number, gate.visible())
        if not jobs:
            raise HTTPException(404, f"no runs for {org}/{repo}#{number}")
        commits = queries.group_by_commit(jobs)
        groups = [
            (
                group.sha,
                links.commit(group.jobs[0], web),
                [Row.of(j, now, web) for j in group.jobs],
            )
            for group in commits
        ]
        pulls = links.pull_links(jobs[0], web)
        title = str((jobs[0].pulls or [{}])[0].get("title") or "")
        authors = links.authors(jobs[0])
        statuses = pull_state.commit_statuses(session, org, repo, [g[0] for g in groups if g[0]])
        comments = pull_state.pull_comments(session, org, repo, number, bot)
    return render(
        request,
        "pr_history.html",
        {
            "org": org,
            "repo": repo,
            "number": number,
            "pr_link": pulls[0][1] if pulls else None,
            "title": title,
            "authors": authors,
            "groups": groups,
            "grid": pr_grid(commits),
            "statuses": statuses,
            "comments": comments,
            "truncated": len(jobs) >= queries.MAX_PR_RUNS,
            "list_url": links.query_url("/", {"repo": f"{org}/{repo}", "pr": number}),
        },
    )


@router.get("/badge.svg", include_in_schema=False)
def badge(
    job: Annotated[str, Query(min_length=1, max_length=MAX_FIELD)], reads: Reads, gate: RequestGate
) -> Response:
    with reads() as session:
        latest = queries.latest_finished(session, job, gate.visible())
        state = latest.state if latest is not None else None
    return Response(
        badge_svg(job, badge_status(state)),
        media_type="image/svg+xml; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/jobs/{job_id}", include_in_schema=False)
def job_link(job_id: JobId) -> RedirectResponse:
    """Commit statuses link to `{dashboard_url}/jobs/{id}` (`report/status.py`)."""
    return RedirectResponse(links.view_url(job_id), status_code=307)


@router.get("/jobs", include_in_schema=False)
def pr_link(
    org: Annotated[str, Query(max_length=100)],
    repo: Annotated[str, Query(max_length=100)],
    pull: PullNumber | None = None,
) -> RedirectResponse:
    """The reporter's PR comment links to `/jobs?org=&repo=&pull=` (`report/comment.py`)."""
    if pull is None:
        return RedirectResponse(links.query_url("/", {"repo": f"{org}/{repo}"}), 307)
    return RedirectResponse(links.pr_history_url(org, repo, pull), status_code=307)


__all__ = ["Filters", "Row", "badge_status", "badge_svg", "router"]
