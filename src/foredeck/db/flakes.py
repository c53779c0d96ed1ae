"""Flake rates over a window, read from the per-day aggregates `db/testresults.py` keeps, and
the verdict on one run: is it flaky, are its failing tests known flakes.

Every read here sums at most a window's days of aggregate rows for the jobs or tests asked
about (`pk_job_days`, `ix_test_days_name_test_day`, `ix_test_days_flaky_day`); none scans runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from foredeck.db.models import Job, JobDay, RunOutcome, RunTest, TestDay, TestName
from foredeck.db.types import utcnow

WINDOW_DAYS = 14
"""How far back a test's flakes make it *known flaky*, and the flakes page's default window."""
MAX_WINDOW_DAYS = 3660


def since(days: int, today: date | None = None) -> date:
    """The first day of a window of `days` days ending today (UTC)."""
    return (today or utcnow().date()) - timedelta(days=max(1, days) - 1)


@dataclass(frozen=True)
class Rate:
    """Runs, failures and flakes over a window; `rate` is flakes per run."""

    runs: int
    failed: int
    flaky: int

    @property
    def rate(self) -> float:
        return self.flaky / self.runs if self.runs else 0.0


@dataclass(frozen=True)
class FlakyTest:
    job: str
    test_id: int
    test: str
    stats: Rate


@dataclass(frozen=True)
class RunVerdict:
    """What the flake data says about one run (`of_run`)."""

    flaky: bool
    """Another run of the job on the same commit ended the other way."""
    failed_tests: list[str] = field(default_factory=list)
    known_flaky_tests: list[str] = field(default_factory=list)
    """The failed tests that flaked in the job since the window before the run."""

    @property
    def known_flake(self) -> bool:
        """A failed run whose every failing test is a known flake."""
        return bool(self.failed_tests) and len(self.known_flaky_tests) == len(self.failed_tests)


def job_rates(
    session: Session, names: Sequence[str], first: date, last: date | None = None
) -> dict[str, Rate]:
    """Each job's runs, failures and flaky commits from day `first` (to `last`)."""
    if not names:
        return {}
    stmt = (
        select(JobDay.name, func.sum(JobDay.runs), func.sum(JobDay.failed), func.sum(JobDay.flaky))
        .where(JobDay.name.in_(list(names)), JobDay.day >= first)
        .group_by(JobDay.name)
    )
    if last is not None:
        stmt = stmt.where(JobDay.day <= last)
    return {
        name: Rate(int(r or 0), int(f or 0), int(k or 0)) for name, r, f, k in session.execute(stmt)
    }


def rates_of_tests(
    session: Session,
    name: str,
    first: date,
    last: date | None = None,
    test_ids: Sequence[int] | None = None,
) -> dict[int, Rate]:
    """Runs, failures and flakes of the tests of job `name` (those of `test_ids`, else all)
    from day `first` (to `last`). Plain rows through the connection: a grid asks for thousands
    of tests, and the ORM's per-row processing would cost more than the query."""
    if test_ids is not None and not test_ids:
        return {}
    stmt = (
        select(
            TestDay.test_id,
            func.sum(TestDay.runs),
            func.sum(TestDay.failed),
            func.sum(TestDay.flaky),
        )
        .where(TestDay.name == name, TestDay.day >= first)
        .group_by(TestDay.test_id)
    )
    if last is not None:
        stmt = stmt.where(TestDay.day <= last)
    if test_ids is not None:
        stmt = stmt.where(TestDay.test_id.in_(list(test_ids)))
    return {
        int(test_id): Rate(int(r or 0), int(f or 0), int(k or 0))
        for test_id, r, f, k in session.connection().execute(stmt).all()
    }


def of_run(session: Session, job_id: int, days: int = WINDOW_DAYS) -> RunVerdict | None:
    """The run's flake verdict; None for a run not recorded (unfinished, or before 0009).

    Its failed tests are known flakes when they flaked in the job from `days` days before the
    run on (a flake found later on the same commit counts too)."""
    run = session.get(RunOutcome, job_id)
    if run is None:
        return None
    if not run.failed_tests:
        return RunVerdict(flaky=bool(run.flaky))
    stmt = (
        select(RunTest.test_id, TestName.name)
        .join(TestName, TestName.id == RunTest.test_id)
        .where(RunTest.job_id == job_id, RunTest.status == "failed")
        .order_by(TestName.name)
        .limit(1000)
    )
    failed = {int(k): str(v) for k, v in session.execute(stmt).all()}
    rates = rates_of_tests(session, run.name, since(days, run.day), test_ids=list(failed))
    known = [failed[i] for i in failed if rates.get(i, Rate(0, 0, 0)).flaky > 0]
    return RunVerdict(bool(run.flaky), sorted(failed.values()), sorted(known))


def flaky_tests(
    session: Session, first: date, *, limit: int, seen: ColumnElement[bool] | None = None
) -> list[FlakyTest]:
    """Tests that flaked since `first`, most flakes per run first; `seen` keeps the jobs the
    caller may see (a condition on `Job`)."""
    flaked = (
        select(TestDay.name, TestDay.test_id)
        .where(TestDay.day >= first, TestDay.flaky > 0)
        .distinct()
        .subquery()
    )
    stmt = (
        select(
            TestDay.name,
            TestDay.test_id,
            func.sum(TestDay.runs),
            func.sum(TestDay.failed),
            func.sum(TestDay.flaky),
        )
        .join(flaked, (flaked.c.name == TestDay.name) & (flaked.c.test_id == TestDay.test_id))
        .where(TestDay.day >= first)
        .group_by(TestDay.name, TestDay.test_id)
    )
    if seen is not None:
        stmt = stmt.where(exists(select(Job.id).where(Job.name == TestDay.name, seen)))
    rows = [
        (name, test_id, Rate(int(r or 0), int(f or 0), int(k or 0)))
        for name, test_id, r, f, k in session.execute(stmt)
    ]
    rows.sort(key=lambda row: (-row[2].rate, -row[2].flaky, row[0], row[1]))
    rows = rows[:limit]
    names = _test_names(session, [test_id for _, test_id, _ in rows])
    return [FlakyTest(job, i, names.get(i, "?"), stats) for job, i, stats in rows]


def _test_names(session: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    stmt = select(TestName.id, TestName.name).where(TestName.id.in_(list(ids)))
    return {int(k): str(v) for k, v in session.execute(stmt).all()}


def flaky_jobs(
    session: Session, first: date, *, limit: int, seen: ColumnElement[bool] | None = None
) -> list[tuple[str, Rate]]:
    """Jobs with flaky commits since `first`, most flakes per run first."""
    stmt = (
        select(JobDay.name, func.sum(JobDay.runs), func.sum(JobDay.failed), func.sum(JobDay.flaky))
        .where(JobDay.day >= first)
        .group_by(JobDay.name)
        .having(func.sum(JobDay.flaky) > 0)
    )
    if seen is not None:
        stmt = stmt.where(exists(select(Job.id).where(Job.name == JobDay.name, seen)))
    rows = [
        (name, Rate(int(r or 0), int(f or 0), int(k or 0)))
        for name, r, f, k in session.execute(stmt)
    ]
    rows.sort(key=lambda row: (-row[1].rate, row[0]))
    return rows[:limit]
