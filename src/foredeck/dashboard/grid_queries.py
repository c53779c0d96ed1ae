"""The test grid's reads: a job's runs as columns, its tests as rows, one outcome per cell.

Three indexed reads whatever the job's history, each bounded by the page:

- columns: the newest recorded runs of the job (`ix_run_outcomes_name_job`), `columns` of them;
- rows: the job's tests over the days those runs span, with their runs, failures and flakes
  summed from the per-day aggregates (`pk_test_days`), sorted, then one page of `rows` kept;
- cells: the outcomes of the page's tests in the page's runs (`pk_run_tests`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import Executable, select
from sqlalchemy.orm import Session

from foredeck.dashboard.queries import Visible
from foredeck.db import flakes
from foredeck.db.flakes import Rate
from foredeck.db.models import Job, RunOutcome, RunTest, TestName

Sort = Literal["failures", "flakiness", "name"]
SORTS: tuple[Sort, ...] = ("failures", "flakiness", "name")
CHUNK = 500


@dataclass(frozen=True)
class Column:
    job_id: int
    state: str
    commit: str
    day: date
    flaky: bool


@dataclass
class GridRow:
    test_id: int
    name: str
    stats: Rate
    cells: list[str] = field(default_factory=list)
    """One per column: `passed`, `failed`, `skipped` or "" (the run did not report the test)."""


@dataclass
class Grid:
    columns: list[Column]
    rows: list[GridRow]
    tests: int
    """How many tests the runs' days have (all pages)."""
    older: int | None
    """The `before` cursor of the next (older) page of runs, None on the last."""


def _rows(session: Session, stmt: Executable) -> Sequence[Any]:
    """Plain rows through the session's connection: the ORM's per-row processing would cost
    more than the query on a grid's thousands of cells."""
    return session.connection().execute(stmt).all()


def _columns(
    session: Session, name: str, count: int, before: int | None, visible: Visible
) -> list[Column]:
    stmt = select(
        RunOutcome.job_id, RunOutcome.state, RunOutcome.sha, RunOutcome.day, RunOutcome.flaky
    ).where(RunOutcome.name == name)
    if visible is not None:
        stmt = stmt.join(Job, Job.id == RunOutcome.job_id).where(visible)
    if before is not None:
        stmt = stmt.where(RunOutcome.job_id < before)
    stmt = stmt.order_by(RunOutcome.job_id.desc()).limit(count)
    return [Column(i, s, c, d, bool(f)) for i, s, c, d, f in _rows(session, stmt)]


def _tests(session: Session, name: str, first: date, last: date) -> list[GridRow]:
    rates = flakes.rates_of_tests(session, name, first, last)
    return [GridRow(test_id, "", rate) for test_id, rate in rates.items()]


def _names(session: Session, rows: list[GridRow]) -> None:
    by_id = {row.test_id: row for row in rows}
    ids = list(by_id)
    for start in range(0, len(ids), CHUNK):
        stmt = select(TestName.id, TestName.name).where(TestName.id.in_(ids[start : start + CHUNK]))
        for test_id, test_name in _rows(session, stmt):
            by_id[test_id].name = test_name


def _sorted(rows: list[GridRow], sort: Sort) -> list[GridRow]:
    if sort == "name":
        return sorted(rows, key=lambda r: (r.name, r.test_id))
    if sort == "flakiness":
        return sorted(
            rows, key=lambda r: (-r.stats.rate, -r.stats.flaky, -r.stats.failed, r.name, r.test_id)
        )
    return sorted(rows, key=lambda r: (-r.stats.failed, -r.stats.flaky, r.name, r.test_id))


def _cells(session: Session, columns: list[Column], rows: list[GridRow]) -> None:
    place = {c.job_id: n for n, c in enumerate(columns)}
    by_id = {row.test_id: row for row in rows}
    for row in rows:
        row.cells = [""] * len(columns)
    if not rows or not columns:
        return
    stmt = select(RunTest.job_id, RunTest.test_id, RunTest.status).where(
        RunTest.job_id.in_(list(place)), RunTest.test_id.in_(list(by_id))
    )
    for job_id, test_id, status in _rows(session, stmt):
        by_id[test_id].cells[place[job_id]] = status


def job_grid(
    session: Session,
    name: str,
    *,
    columns: int,
    rows: int,
    offset: int = 0,
    before: int | None = None,
    sort: Sort = "failures",
    visible: Visible = None,
) -> Grid:
    """One page of job `name`'s test grid (see the module docstring): the newest `columns`
    runs before job `before`, and `rows` tests from `offset` in the order `sort`."""
    found = _columns(session, name, columns + 1, before, visible)
    shown = found[:columns]
    older = shown[-1].job_id if len(found) > columns else None
    if not shown:
        return Grid([], [], 0, None)
    tests = _tests(session, name, min(c.day for c in shown), max(c.day for c in shown))
    if sort == "name":
        _names(session, tests)
        page = _sorted(tests, sort)[offset : offset + rows]
    else:
        page = _sorted(tests, sort)[offset : offset + rows]
        _names(session, page)
        page = _sorted(page, sort)
    _cells(session, shown, page)
    return Grid(shown, page, len(tests), older)
