"""The test grid's reads: a job's runs as columns, its tests as rows, one outcome per cell.

Three indexed reads whatever the job's history, each bounded by the page:

- columns: the newest recorded runs of the job (`ix_run_outcomes_name_job`), `columns` of them;
- rows: the job's tests over the days those runs span, with their runs, failures and flakes
  summed from the per-day aggregates (`pk_test_days`), sorted and cut to one page in SQL;
- cells: the outcomes of the page's tests in the page's runs (`pk_run_tests`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import ColumnElement, Executable, Float, cast, func, select
from sqlalchemy.orm import Session

from foredeck.dashboard.queries import Visible
from foredeck.db.flakes import Rate
from foredeck.db.models import Job, RunOutcome, RunTest, TestDay, TestName

Sort = Literal["failures", "flakiness", "name"]
SORTS: tuple[Sort, ...] = ("failures", "flakiness", "name")


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


def _tests(
    session: Session, name: str, days: tuple[date, date], sort: Sort, offset: int, limit: int
) -> tuple[list[GridRow], int]:
    """One page of the job's tests over `days`, sorted in SQL, and how many there are: only
    the page's rows reach Python, named by a join after the page is cut (for `name`, before)."""
    runs, failed, flaky = (func.sum(c) for c in (TestDay.runs, TestDay.failed, TestDay.flaky))
    sums = (
        select(
            TestDay.test_id.label("test_id"),
            runs.label("runs"),
            failed.label("failed"),
            flaky.label("flaky"),
            func.count().over().label("total"),
        )
        .where(TestDay.name == name, TestDay.day >= days[0], TestDay.day <= days[1])
        .group_by(TestDay.test_id)
    )
    if sort != "name":
        order: list[ColumnElement[Any]] = [failed.desc(), flaky.desc()]
        if sort == "flakiness":
            order = [(cast(flaky, Float) / runs).desc(), flaky.desc(), failed.desc()]
        sums = sums.order_by(*order, TestDay.test_id).offset(offset).limit(limit)
    page = sums.subquery()
    stmt = select(page, TestName.name).join(TestName, TestName.id == page.c.test_id)
    if sort == "name":
        stmt = stmt.order_by(TestName.name, page.c.test_id).offset(offset).limit(limit)
    found = _rows(session, stmt)
    rows = [GridRow(int(i), str(n), Rate(int(r), int(f), int(k))) for i, r, f, k, _, n in found]
    if sort != "name":  # a join keeps no order: the page's, again
        key = (
            (lambda g: (-g.stats.failed, -g.stats.flaky, g.test_id))
            if sort == "failures"
            else (lambda g: (-g.stats.rate, -g.stats.flaky, -g.stats.failed, g.test_id))
        )
        rows.sort(key=key)
    total = int(found[0][4]) if found else _count(session, sums)
    return rows, total


def _count(session: Session, sums: Any) -> int:
    """How many tests a page past the last one would have had."""
    counted = sums.limit(None).offset(None).order_by(None).subquery()
    return int(session.connection().execute(select(func.count()).select_from(counted)).scalar_one())


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
    days = (min(c.day for c in shown), max(c.day for c in shown))
    page, total = _tests(session, name, days, sort, offset, rows)
    _cells(session, shown, page)
    return Grid(shown, page, total, older)
