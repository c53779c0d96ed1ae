"""Test results and flake aggregates recorded as runs finish (`db/testresults.py`), and the
reads of `db/flakes.py`, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import func, select

from foredeck.db import session_factory
from foredeck.db.flakes import flaky_jobs, flaky_tests, job_rates, of_run, since
from foredeck.db.models import JobDay, RunOutcome, RunTest, TestDay, TestgridTab, TestName
from foredeck.db.testresults import (
    CaseOutcome,
    commit_key,
    dashboard_tabs,
    merge_cases,
    record_run,
)
from tests.dashboard.helpers import T0, make_job
from tests.db.fixtures import Database

DAY = T0.date()
T = TypeVar("T")


def _rows(db: Database, model: type[T]) -> list[T]:
    with session_factory(db.engine)() as s:
        return list(s.execute(select(model)).scalars())


def test_a_run_and_its_tests_are_recorded(db: Database) -> None:
    job_id = make_job(db, "unit", state="failure", cases={"a.ok": "passed", "a.bad": "failed"})
    [run] = _rows(db, RunOutcome)
    assert (run.job_id, run.name, run.sha, run.state) == (job_id, "unit", "b" * 40, "failure")
    assert (run.tests, run.failed_tests, run.flaky, run.day) == (2, 1, False, DAY)
    assert run.duration == 90.0
    tests = {t.name: t.id for t in _rows(db, TestName)}
    results = {r.test_id: r.status for r in _rows(db, RunTest)}
    assert results == {tests["a.ok"]: "passed", tests["a.bad"]: "failed"}
    [day] = _rows(db, JobDay)
    assert (day.runs, day.passed, day.failed, day.flaky) == (1, 0, 1, 0)


def test_a_failure_and_a_pass_on_one_commit_make_it_flaky_once(db: Database) -> None:
    first = make_job(db, "unit", state="failure", cases={"t.flaky": "failed", "t.ok": "passed"})
    make_job(db, "unit", state="success", cases={"t.flaky": "passed", "t.ok": "passed"})
    make_job(db, "unit", state="failure", cases={"t.flaky": "failed", "t.ok": "passed"})
    other = make_job(db, "unit", state="failure", sha="c" * 40, cases={"t.flaky": "failed"})
    runs = {r.job_id: r.flaky for r in _rows(db, RunOutcome)}
    assert runs.pop(other) is False
    assert set(runs.values()) == {True}, "every run on the flaky commit is flaky"
    [day] = _rows(db, JobDay)
    assert (day.runs, day.passed, day.failed, day.flaky) == (4, 1, 3, 1)
    names = {t.id: t.name for t in _rows(db, TestName)}
    days = {names[d.test_id]: (d.runs, d.failed, d.flaky) for d in _rows(db, TestDay)}
    assert days == {"t.flaky": (4, 3, 1), "t.ok": (3, 0, 0)}
    with session_factory(db.engine)() as s:
        verdict = of_run(s, first, days=100_000)
        assert verdict is not None and verdict.flaky
        assert verdict.failed_tests == ["t.flaky"] and verdict.known_flake
        alone = of_run(s, other, days=100_000)
        assert alone is not None and not alone.flaky and alone.known_flake
        first_day = since(3650, DAY)
        [(job, rate)] = flaky_jobs(s, first_day, limit=10)
        assert (job, rate.runs, rate.flaky, rate.rate) == ("unit", 4, 1, 0.25)
        [test] = flaky_tests(s, first_day, limit=10)
        assert (test.job, test.test, test.stats.runs, test.stats.flaky) == ("unit", "t.flaky", 4, 1)
        assert job_rates(s, ["unit", "none"], first_day)["unit"].failed == 3
        assert flaky_tests(s, DAY + timedelta(days=1), limit=10) == []


def test_a_failure_with_a_test_that_never_flaked_is_not_a_known_flake(db: Database) -> None:
    make_job(db, "unit", state="failure", cases={"t.flaky": "failed"})
    make_job(db, "unit", state="success", cases={"t.flaky": "passed"})
    mixed = make_job(
        db, "unit", state="failure", sha="d" * 40, cases={"t.flaky": "failed", "t.real": "failed"}
    )
    with session_factory(db.engine)() as s:
        verdict = of_run(s, mixed, days=100_000)
    assert verdict is not None
    assert verdict.known_flaky_tests == ["t.flaky"] and not verdict.known_flake


def test_aborted_runs_count_for_neither_side(db: Database) -> None:
    make_job(db, "unit", state="aborted", cases={})
    make_job(db, "unit", state="success", cases={})
    runs = _rows(db, RunOutcome)
    assert [r.flaky for r in runs] == [False, False]
    [day] = _rows(db, JobDay)
    assert (day.runs, day.flaky) == (1, 0)


def test_dashboard_tabs_from_prow_annotations(db: Database) -> None:
    annotations = {"testgrid-dashboards": "sig-a, sig-b,,", "testgrid-tab-name": "unit-tab"}
    assert dashboard_tabs("unit", {"annotations": annotations}) == [
        ("sig-a", "unit-tab"),
        ("sig-b", "unit-tab"),
    ]
    assert dashboard_tabs("unit", {"annotations": {"testgrid-dashboards": "x"}}) == [("x", "unit")]
    assert dashboard_tabs("unit", {}) == []
    make_job(db, "unit", job_config={"annotations": annotations}, cases={})
    make_job(db, "unit", job_config={"annotations": annotations}, cases={})
    tabs = {(t.dashboard, t.tab, t.name) for t in _rows(db, TestgridTab)}
    assert tabs == {("sig-a", "unit-tab", "unit"), ("sig-b", "unit-tab", "unit")}


def test_cases_of_one_name_merge_failed_first() -> None:
    merged = merge_cases(
        [
            CaseOutcome("x", "passed", 1.0),
            CaseOutcome("x", "failed", 2.0),
            CaseOutcome("y", "skipped"),
        ]
    )
    assert merged == {"x": CaseOutcome("x", "failed", 3.0), "y": CaseOutcome("y", "skipped")}


def test_removing_a_job_removes_its_results(db: Database) -> None:
    job_id = make_job(db, "unit", cases={"a": "passed"})
    from foredeck.db.models import Job

    with session_factory(db.engine).begin() as s:
        s.delete(s.get(Job, job_id))
    with session_factory(db.engine)() as s:
        assert s.execute(select(func.count()).select_from(RunTest)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(RunOutcome)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(JobDay)).scalar_one() == 1


def test_commit_of_a_batch_is_its_base_and_heads() -> None:
    from foredeck.db.models import Job

    job = Job(name="b", pulls=[{"sha": "1" * 40}, {"sha": "2" * 40}], base_sha="0" * 40)
    assert len(commit_key(job)) == 64 and commit_key(job) != "0" * 40
    assert commit_key(Job(name="p", pulls=[], base_sha="abc")) == "abc"


def test_two_runs_of_one_commit_finishing_at_once_still_make_a_flake(pg_db: Database) -> None:
    """PostgreSQL: two controllers record a failure and a pass of one commit concurrently; the
    second waits for the first's transaction (an advisory lock) and sees its run."""
    first = make_job(pg_db, "unit", state="failure")
    second = make_job(pg_db, "unit", state="success")
    sessions = session_factory(pg_db.engine)
    holder = sessions()
    holder.begin()
    record_run(holder, first, [CaseOutcome("t", "failed")])  # not committed yet
    done = threading.Event()

    def other() -> None:
        with sessions.begin() as s:
            record_run(s, second, [CaseOutcome("u", "passed")])  # no name in common
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert not done.wait(1.0), "the second run did not wait for the first"
    holder.commit()
    holder.close()
    thread.join(10)
    assert done.is_set()
    assert {r.job_id: r.flaky for r in _rows(pg_db, RunOutcome)} == {first: True, second: True}
    [day] = _rows(pg_db, JobDay)
    assert (day.runs, day.flaky) == (2, 1)
