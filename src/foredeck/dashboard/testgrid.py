"""TestGrid's pages: a job's test grid, dashboards of jobs (Prow's `testgrid-dashboards`
annotation) and the flaky tests.

Grids and rates come from what the controller recorded as runs finished (`db/testresults.py`);
each page reads a bounded number of indexed rows (`grid_queries.py`, `db/flakes.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from markupsafe import Markup
from sqlalchemy import func, select
from starlette.responses import Response

from foredeck.access.gate import RequestGate
from foredeck.bounds import Offset
from foredeck.dashboard import grid_queries, links, queries
from foredeck.dashboard.app import PageRoute, templates
from foredeck.dashboard.grid_queries import SORTS, GridRow, Sort
from foredeck.db import flakes
from foredeck.db.models import Job, TestgridTab
from foredeck.web.deps import Reads

MAX_FIELD = 255
COLUMNS, MAX_COLUMNS = 50, 100
ROWS, MAX_ROWS = 100, 200
TAB_COLUMNS, TAB_ROWS = 30, 10
"""The small grid of each tab on a dashboard's page."""
MAX_TABS = 50
MAX_FLAKES = 200

router = APIRouter(route_class=PageRoute)

_CELLS = {
    "passed": Markup('<td class="cell cell-passed" data-status="passed"></td>'),
    "failed": Markup('<td class="cell cell-failed" data-status="failed"></td>'),
    "skipped": Markup('<td class="cell cell-skipped" data-status="skipped"></td>'),
}
_NO_CELL = Markup('<td class="cell" data-status="none"></td>')


def cells_html(row: GridRow) -> Markup:
    """A row's cells: fixed markup per status, joined (a large grid has 100,000 of them; one
    template loop each would be most of the page's time)."""
    return Markup("").join(_CELLS.get(status, _NO_CELL) for status in row.cells)


templates.env.globals["grid_cells"] = cells_html


def _sort(value: str) -> Sort:
    for sort in SORTS:
        if value == sort:
            return sort
    raise HTTPException(400, f"sort must be one of {', '.join(SORTS)}")


def _bounded(value: int | None, default: int, most: int) -> int:
    return default if value is None else max(1, min(value, most))


def dashboard_url(name: str) -> str:
    return f"/testgrid/{links.seg(name)}"


@router.get("/job-tests/{job:path}", include_in_schema=False)
def job_tests(
    request: Request,
    job: str,
    reads: Reads,
    gate: RequestGate,
    sort: Annotated[str, Query(max_length=20)] = "failures",
    before: Offset | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    columns: Annotated[Offset | None, Query(ge=1)] = None,
    rows: Annotated[Offset | None, Query(ge=1)] = None,
) -> Response:
    """The job's test grid: rows are tests, columns its runs (newest left)."""
    if len(job) > MAX_FIELD:
        raise HTTPException(404, "no such job")
    order = _sort(sort)
    ncols = _bounded(columns, COLUMNS, MAX_COLUMNS)
    nrows = _bounded(rows, ROWS, MAX_ROWS)
    with reads() as session:
        seen = gate.visible()
        if not queries.job_exists(session, job, seen):
            raise HTTPException(404, f"no runs of job {job!r}")
        grid = grid_queries.job_grid(
            session,
            job,
            columns=ncols,
            rows=nrows,
            offset=offset,
            before=before,
            sort=order,
            visible=seen,
        )
        rate = None
        if grid.columns:
            days = (grid.columns[-1].day, grid.columns[0].day)
            rate = flakes.job_rates(session, [job], *days).get(job)
    here = links.job_tests_url(job)
    params: dict[str, Any] = {"sort": sort, "columns": columns, "rows": rows}
    return templates.TemplateResponse(
        request,
        "testgrid_job.html",
        {
            "job": job,
            "grid": grid,
            "sort": order,
            "sorts": SORTS,
            "rate": rate,
            "sort_url": lambda s: links.query_url(here, {**params, "sort": s, "before": before}),
            "older": links.query_url(here, {**params, "before": grid.older})
            if grid.older
            else None,
            "newest": links.query_url(here, params) if before else None,
            "more_tests": links.query_url(
                here, {**params, "before": before, "offset": offset + nrows}
            )
            if offset + nrows < grid.tests
            else None,
            "offset": offset,
            "history_url": links.job_history_url(job),
        },
    )


@router.get("/testgrid", include_in_schema=False)
def dashboards(request: Request, reads: Reads, gate: RequestGate) -> Response:
    """The dashboards named by the jobs' `testgrid-dashboards` annotations."""
    stmt = select(TestgridTab.dashboard, func.count()).group_by(TestgridTab.dashboard)
    seen = gate.visible()
    if seen is not None:
        stmt = stmt.where(_tab_seen(seen))
    with reads() as session:
        found = session.execute(stmt.order_by(TestgridTab.dashboard).limit(1000)).all()
    return templates.TemplateResponse(
        request,
        "testgrid_index.html",
        {"dashboards": [(str(d), int(n)) for d, n in found], "dashboard_url": dashboard_url},
    )


def _tab_seen(seen: queries.Visible) -> Any:
    assert seen is not None
    return select(Job.id).where(Job.name == TestgridTab.name, seen).exists()


@router.get("/testgrid/{dashboard:path}", include_in_schema=False)
def dashboard(request: Request, dashboard: str, reads: Reads, gate: RequestGate) -> Response:
    """One dashboard: each of its tabs with its flake rate and a small grid of the tests that
    failed most in its newest runs."""
    if len(dashboard) > MAX_FIELD:
        raise HTTPException(404, "no such dashboard")
    seen = gate.visible()
    stmt = select(TestgridTab).where(TestgridTab.dashboard == dashboard)
    if seen is not None:
        stmt = stmt.where(_tab_seen(seen))
    with reads() as session:
        tabs = list(session.execute(stmt.order_by(TestgridTab.tab).limit(MAX_TABS)).scalars())
        if not tabs:
            raise HTTPException(404, f"no dashboard {dashboard!r}")
        first = flakes.since(flakes.WINDOW_DAYS)
        rates = flakes.job_rates(session, [t.name for t in tabs], first)
        shown = [
            (
                tab.tab,
                tab.name,
                links.job_tests_url(tab.name),
                rates.get(tab.name),
                grid_queries.job_grid(
                    session, tab.name, columns=TAB_COLUMNS, rows=TAB_ROWS, visible=seen
                ),
            )
            for tab in tabs
        ]
    return templates.TemplateResponse(
        request,
        "testgrid_dashboard.html",
        {"dashboard": dashboard, "tabs": shown, "window": flakes.WINDOW_DAYS},
    )


@router.get("/flakes", include_in_schema=False)
def flaky(
    request: Request,
    reads: Reads,
    gate: RequestGate,
    days: Annotated[int, Query(ge=1, le=flakes.MAX_WINDOW_DAYS)] = flakes.WINDOW_DAYS,
) -> Response:
    """Flaky jobs and tests over the last `days` days, most flakes per run first."""
    first = flakes.since(days)
    seen = gate.visible()
    with reads() as session:
        jobs = flakes.flaky_jobs(session, first, limit=MAX_FLAKES, seen=seen)
        tests = flakes.flaky_tests(session, first, limit=MAX_FLAKES, seen=seen)
    return templates.TemplateResponse(
        request,
        "flakes.html",
        {
            "days": days,
            "jobs": jobs,
            "tests": tests,
            "limit": MAX_FLAKES,
        },
    )
