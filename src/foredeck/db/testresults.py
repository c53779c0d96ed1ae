"""Recording a finished run for the test grids and flake rates, in the transaction that records
its final state.

A run is *flaky* when another run of the same job on the same commit ended the other way (one
passed, one failed); a test *flaked* on a commit when it both failed and passed there. Both are
found as the run finishes, against the few earlier runs of that job on that commit
(`ix_run_outcomes_name_sha`), and counted once per commit in the day's aggregate rows
(`job_days`, `test_days`): a flake rate over a window then sums a few rows per job or test,
whatever the number of runs (`db/flakes.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Insert, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from foredeck.db.models import Job, JobDay, RunOutcome, RunTest, TestDay, TestgridTab, TestName
from foredeck.db.types import utcnow

PASSED_STATES = frozenset({"success"})
FAILED_STATES = frozenset({"failure", "error"})
MAX_TEST_NAME = 1000
CHUNK = 500
"""Rows per statement: under SQLite's limit of bound parameters."""
DASHBOARDS = "testgrid-dashboards"
TAB_NAME = "testgrid-tab-name"


@dataclass(frozen=True)
class CaseOutcome:
    """One test of a run: its name (`classname.name`), `passed`, `failed` or `skipped`."""

    name: str
    status: str
    duration: float | None = None


_RANK = {"failed": 0, "passed": 1, "skipped": 2}


def merge_cases(cases: Iterable[CaseOutcome]) -> dict[str, CaseOutcome]:
    """One outcome per name: a test reported twice (two files, reruns in one run) failed if
    any report failed; durations add up."""
    merged: dict[str, CaseOutcome] = {}
    for case in cases:
        name = case.name[:MAX_TEST_NAME]
        seen = merged.get(name)
        if seen is None:
            merged[name] = CaseOutcome(name, case.status, case.duration)
            continue
        status = min(seen.status, case.status, key=lambda s: _RANK.get(s, 3))
        total = (seen.duration or 0.0) + (case.duration or 0.0)
        both = seen.duration is None and case.duration is None
        merged[name] = CaseOutcome(name, status, None if both else total)
    return merged


def commit_key(job: Job) -> str:
    """The commit a run tested: a presubmit's head, a batch's base and heads, else the base."""
    shas = [str(p.get("sha") or "") for p in job.pulls or []]
    if len(shas) == 1 and shas[0]:
        return shas[0][:64]
    key = "+".join([job.base_sha or "", *shas]) if shas else job.base_sha or ""
    return key if len(key) <= 64 else hashlib.sha256(key.encode()).hexdigest()


def dashboard_tabs(name: str, config: dict[str, Any]) -> list[tuple[str, str]]:
    """(dashboard, tab) of a job, from Prow's annotations: `testgrid-dashboards` is a comma
    separated list, `testgrid-tab-name` the tab (default: the job's name)."""
    annotations = config.get("annotations") or {}
    if not isinstance(annotations, dict):
        return []
    tab = str(annotations.get(TAB_NAME) or name).strip()[:255] or name
    listed = str(annotations.get(DASHBOARDS) or "")
    dashboards = {d.strip()[:255] for d in listed.split(",") if d.strip()}
    return [(dashboard, tab) for dashboard in sorted(dashboards)]


def _insert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _add_counts(session: Session, table: Any, keys: list[str], rows: list[dict[str, Any]]) -> None:
    """Insert `rows`, or add their counts to the rows already there."""
    if not rows:
        return
    stmt = _insert(session, table)
    counts = [c for c in rows[0] if c not in keys]
    changed = {c: getattr(table, c) + getattr(stmt.excluded, c) for c in counts}
    upsert: Insert = stmt.on_conflict_do_update(index_elements=keys, set_=changed)
    for start in range(0, len(rows), CHUNK):
        session.execute(upsert, rows[start : start + CHUNK])


def name_ids(session: Session, names: Sequence[str]) -> dict[str, int]:
    """The ids of `names`, made for names not seen before."""
    keys = {hashlib.sha256(n.encode()).hexdigest(): n for n in names}
    found: dict[str, int] = {}
    missing = list(keys)
    for attempt in range(2):
        for start in range(0, len(missing), CHUNK):
            part = missing[start : start + CHUNK]
            stmt = select(TestName.key, TestName.id).where(TestName.key.in_(part))
            found.update({keys[k]: i for k, i in session.execute(stmt)})
        missing = [k for k, n in keys.items() if n not in found]
        if not missing or attempt:
            break
        rows = [{"key": k, "name": keys[k]} for k in missing]
        stmt = _insert(session, TestName).on_conflict_do_nothing(index_elements=["key"])
        for start in range(0, len(rows), CHUNK):
            session.execute(stmt, rows[start : start + CHUNK])
    return found


def _outcome(state: str) -> str | None:
    if state in PASSED_STATES:
        return "passed"
    if state in FAILED_STATES:
        return "failed"
    return None


def record_run(
    session: Session, job_id: int, cases: Iterable[CaseOutcome], now: datetime | None = None
) -> None:
    """Record finished job `job_id` and its tests' outcomes (see the module docstring)."""
    job = session.get(Job, job_id)
    if job is None or session.get(RunOutcome, job_id) is not None:
        return
    now = now or utcnow()
    day = (job.finished_at or now).date()
    merged = merge_cases(cases)
    ids = name_ids(session, sorted(merged))
    results = {ids[n]: c for n, c in merged.items()}
    commit = commit_key(job)
    outcome = _outcome(job.state)
    if commit and outcome:
        _serialize(session, job.name, commit)
    earlier = _earlier_runs(session, job.name, commit) if commit and outcome else []
    was_flaky = any(flaky for _, _, flaky in earlier)
    flips = any(_outcome(state) not in (None, outcome) for _, state, _ in earlier)
    newly_flaky = outcome is not None and flips and not was_flaky
    started, finished = job.started_at, job.finished_at
    session.add(
        RunOutcome(
            job_id=job_id,
            name=job.name,
            sha=commit,
            state=job.state,
            day=day,
            duration=(finished - started).total_seconds() if started and finished else None,
            tests=len(results),
            failed_tests=sum(1 for c in results.values() if c.status == "failed"),
            flaky=newly_flaky or was_flaky,
        )
    )
    if newly_flaky:
        session.execute(
            update(RunOutcome)
            .where(RunOutcome.name == job.name, RunOutcome.sha == commit)
            .values(flaky=True)
            .execution_options(synchronize_session=False)
        )
    _record_tests(session, job_id, results)
    if outcome is not None:
        _count_job(session, job.name, day, outcome, newly_flaky)
        flaked = _flaked_tests(session, [i for i, _, _ in earlier], results)
        _count_tests(session, job.name, day, results, flaked)
    _record_tabs(session, job.name, job.job_config or {}, now)


def _serialize(session: Session, name: str, commit: str) -> None:
    """Two runs of one job and commit finishing at once in two controllers would each miss the
    other and the flake between them: on PostgreSQL they take turns on an advisory lock held to
    the end of the transaction (SQLite's writers take turns already, `write_lock`)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"foredeck-flakes:{name}:{commit}".encode()).digest()
    session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], signed=True))))


def _earlier_runs(session: Session, name: str, commit: str) -> list[tuple[int, str, bool]]:
    stmt = select(RunOutcome.job_id, RunOutcome.state, RunOutcome.flaky).where(
        RunOutcome.name == name, RunOutcome.sha == commit
    )
    return [(i, s, bool(f)) for i, s, f in session.execute(stmt.limit(CHUNK))]


def _record_tests(session: Session, job_id: int, results: dict[int, CaseOutcome]) -> None:
    rows = [
        {"job_id": job_id, "test_id": i, "status": c.status, "duration": c.duration}
        for i, c in results.items()
    ]
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(RunTest), rows[start : start + CHUNK])


def _flaked_tests(
    session: Session, earlier: list[int], results: dict[int, CaseOutcome]
) -> set[int]:
    """Tests of this run that, with it, both failed and passed on the commit for the first
    time."""
    if not earlier:
        return set()
    before: dict[int, set[str]] = {}
    ids = [i for i, c in results.items() if c.status in ("passed", "failed")]
    for start in range(0, len(ids), CHUNK):
        stmt = select(RunTest.test_id, RunTest.status).where(
            RunTest.job_id.in_(earlier), RunTest.test_id.in_(ids[start : start + CHUNK])
        )
        for test_id, status in session.execute(stmt):
            before.setdefault(test_id, set()).add(status)
    both = {"passed", "failed"}
    return {
        i
        for i in ids
        if not both <= before.get(i, set()) and both <= before.get(i, set()) | {results[i].status}
    }


def _count_job(session: Session, name: str, day: date, outcome: str, flaky: bool) -> None:
    row = {
        "name": name,
        "day": day,
        "runs": 1,
        "passed": int(outcome == "passed"),
        "failed": int(outcome == "failed"),
        "flaky": int(flaky),
    }
    _add_counts(session, JobDay, ["name", "day"], [row])


def _count_tests(
    session: Session, name: str, day: date, results: dict[int, CaseOutcome], flaked: set[int]
) -> None:
    rows = [
        {
            "name": name,
            "day": day,
            "test_id": i,
            "runs": 1,
            "failed": int(c.status == "failed"),
            "flaky": int(i in flaked),
        }
        for i, c in sorted(results.items())
        if c.status in ("passed", "failed")
    ]
    _add_counts(session, TestDay, ["name", "day", "test_id"], rows)


def _record_tabs(session: Session, name: str, config: dict[str, Any], now: datetime) -> None:
    rows = [
        {"dashboard": d, "tab": t, "name": name, "updated_at": now}
        for d, t in dashboard_tabs(name, config)
    ]
    if not rows:
        return
    stmt = _insert(session, TestgridTab)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["dashboard", "tab"],
            set_={"name": stmt.excluded.name, "updated_at": stmt.excluded.updated_at},
        ),
        rows,
    )
