"""Concurrency limits: per controller, and per job name across controllers."""

from __future__ import annotations

from pathlib import Path

from foredeck.controller import Controller
from tests.controller.helpers import (
    add_job,
    get_job,
    make_settings,
    run_all,
    run_until_done,
    spec_config,
)
from tests.db.fixtures import Database
from tests.execute.helpers import max_overlap


def intervals(db: Database, ids: list[int]) -> list[tuple[float, float]]:
    spans = []
    for job_id in ids:
        job = get_job(db, job_id)
        assert job.state == "success", (job_id, job.description)
        assert job.started_at is not None and job.finished_at is not None
        spans.append((job.started_at.timestamp(), job.finished_at.timestamp()))
    return spans


async def test_global_max_concurrency(db: Database, tmp_path: Path) -> None:
    ids = [add_job(db, f"job-{i}", spec_config("sleep 0.3")) for i in range(6)]
    controller = Controller(db.engine, make_settings(tmp_path, db, max_concurrency=2))
    first = await controller.run_once()
    assert first == ids[:2]  # oldest first, no more than fit
    await run_all(controller)
    assert max_overlap(intervals(db, ids)) == 2


async def test_per_job_limit_holds_across_controllers_without_blocking_others(
    db: Database, tmp_path: Path
) -> None:
    limited = [
        add_job(db, "limited", spec_config("sleep 0.5", max_concurrency=1)) for _ in range(3)
    ]
    others = [add_job(db, f"other-{i}", spec_config("sleep 0.05")) for i in range(4)]
    settings = make_settings(tmp_path, db, max_concurrency=4)
    one, two = Controller(db.engine, settings), Controller(db.engine, settings)
    await run_until_done(db, one, two)

    limited_spans = intervals(db, limited)
    assert max_overlap(limited_spans) == 1
    assert [s for s, _ in limited_spans] == sorted(s for s, _ in limited_spans)  # oldest first
    # The younger jobs of other names did not wait behind the blocked ones.
    first_limited_end = min(end for _, end in limited_spans)
    assert max(start for start, _ in intervals(db, others)) < first_limited_end
