"""A finished job's JUnit results are recorded with its final state (`Ledger.finish`): every
test of its `junit*.xml` files, the run, the day's counts and its TestGrid tabs; a file that
cannot be read is skipped, never the state."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from foredeck.controller import Controller
from foredeck.db import session_factory
from foredeck.db.models import JobDay, RunOutcome, RunTest, TestgridTab, TestName
from tests.controller.helpers import add_job, get_job, make_settings, run_all, spec_config
from tests.db.fixtures import Database

SCRIPT = """
mkdir -p "$ARTIFACTS/deep"
cat > "$ARTIFACTS/junit_unit.xml" <<'XML'
<testsuite name="unit"><testcase classname="pkg" name="test_ok" time="0.5"/>
<testcase classname="pkg" name="test_bad"><failure message="boom">trace</failure></testcase>
<testcase classname="pkg" name="test_later"><skipped/></testcase></testsuite>
XML
echo '<testsuite><testcase name="deep_ok"/></testsuite>' > "$ARTIFACTS/deep/junit_2.xml"
echo '<!DOCTYPE x [<!ENTITY a "a">]><testsuite/>' > "$ARTIFACTS/junit_evil.xml"
echo '<testsuite><testcase name="not_junit"/></testsuite>' > "$ARTIFACTS/results.xml"
exit 1
"""
DASHBOARDS = {"annotations": {"testgrid-dashboards": "sig-unit", "testgrid-tab-name": "unit"}}


async def test_a_finished_job_records_its_tests(db: Database, tmp_path: Path) -> None:
    job_id = add_job(db, "unit-job", spec_config(SCRIPT, **DASHBOARDS))
    await run_all(Controller(db.engine, make_settings(tmp_path, db)), deadline=120)
    job = get_job(db, job_id)
    assert job.state == "failure", job.description
    with session_factory(db.engine)() as s:
        names = dict(s.execute(select(TestName.id, TestName.name)).all())
        results = {names[r.test_id]: r.status for r in s.execute(select(RunTest)).scalars()}
        run = s.get(RunOutcome, job_id)
        [day] = s.execute(select(JobDay)).scalars()
        tabs = [(t.dashboard, t.tab, t.name) for t in s.execute(select(TestgridTab)).scalars()]
    assert results == {
        "pkg.test_ok": "passed",
        "pkg.test_bad": "failed",
        "pkg.test_later": "skipped",
        "deep_ok": "passed",
    }, "junit*.xml anywhere below artifacts/, the DTD file and results.xml left out"
    assert run is not None
    assert (run.name, run.state, run.tests, run.failed_tests, run.sha) == (
        "unit-job",
        "failure",
        4,
        1,
        "",
    )
    assert (day.name, day.runs, day.failed, day.flaky) == ("unit-job", 1, 1, 0)
    assert tabs == [("sig-unit", "unit", "unit-job")]


async def test_a_job_without_junit_is_recorded_with_no_tests(db: Database, tmp_path: Path) -> None:
    job_id = add_job(db, "plain", spec_config("echo fine"))
    await run_all(Controller(db.engine, make_settings(tmp_path, db)), deadline=120)
    assert get_job(db, job_id).state == "success"
    with session_factory(db.engine)() as s:
        run = s.get(RunOutcome, job_id)
        assert run is not None and (run.tests, run.state) == (0, "success")
        assert s.execute(select(RunTest)).first() is None
