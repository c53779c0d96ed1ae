"""The reporter's database access: short reads, and one compare-and-set write per report.

Reads go through `read_only(engine)` (deferred transactions on SQLite) so that the reporter never
queues behind, or blocks, the event worker and the controller; the only write is `record()`, a
single UPDATE under `write_lock`. Nothing here is ever called with an SCM request in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, select, update

from foredeck.db import flakes
from foredeck.db.engine import read_only, session_factory, write_lock
from foredeck.db.models import FINISHED_STATES, Job
from foredeck.db.types import utcnow


@dataclass(frozen=True)
class JobView:
    """What the reporter needs of a job, detached from any session."""

    id: int
    name: str
    type: str
    state: str
    reported_state: str | None
    suppress_report: bool
    org: str | None
    repo: str | None
    base_sha: str | None
    pull_number: int | None
    pulls: list[dict[str, Any]]
    job_config: dict[str, Any]
    context: str | None
    description: str | None

    @property
    def head_sha(self) -> str | None:
        """The pull request head a presubmit ran on."""
        sha = self.pulls[0].get("sha") if self.pulls else None
        return sha if isinstance(sha, str) and sha else None

    @property
    def author(self) -> str | None:
        author = self.pulls[0].get("author") if self.pulls else None
        return author if isinstance(author, str) and author else None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def skip_report(self) -> bool:
        """Prow's `skip_report: true` (or ProwJobSpec's `report: false`) in the job's config."""
        config = self.job_config or {}
        return bool(config.get("skip_report")) or config.get("report") is False


_COLUMNS = (
    Job.id,
    Job.name,
    Job.type,
    Job.state,
    Job.reported_state,
    Job.suppress_report,
    Job.org,
    Job.repo,
    Job.base_sha,
    Job.pull_number,
    Job.pulls,
    Job.job_config,
    Job.context,
    Job.description,
)


def _view(row: Any) -> JobView:
    return JobView(
        id=row.id,
        name=row.name,
        type=row.type,
        state=row.state,
        reported_state=row.reported_state,
        suppress_report=bool(row.suppress_report),
        org=row.org,
        repo=row.repo,
        base_sha=row.base_sha,
        pull_number=row.pull_number,
        pulls=list(row.pulls or []),
        job_config=dict(row.job_config or {}),
        context=row.context,
        description=row.description,
    )


def due_query(after_id: int, limit: int) -> Select[Any]:
    """The reporter's poll; its conditions are those of the partial index `ix_jobs_unreported`
    (migration 0004), so it reads only the jobs still due, however long the table."""
    return (
        select(*_COLUMNS)
        .where(
            Job.id > after_id,
            Job.reported_state.is_distinct_from(Job.state),
            Job.suppress_report.is_(False),
        )
        .order_by(Job.id)
        .limit(limit)
    )


class ReportStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = session_factory(read_only(engine))
        self._writes = session_factory(engine)

    def due(self, after_id: int, limit: int) -> list[JobView]:
        """Jobs whose state was not reported yet (not suppressed), by id, after `after_id`."""
        with self._reads() as session, session.begin():
            return [_view(row) for row in session.execute(due_query(after_id, limit))]

    def get(self, job_id: int) -> JobView | None:
        with self._reads() as session, session.begin():
            row = session.execute(select(*_COLUMNS).where(Job.id == job_id)).one_or_none()
        return _view(row) if row is not None else None

    def record(self, job_id: int, state: str, now: datetime | None = None) -> bool:
        """Mark `state` reported if the job is still in it (compare-and-set); False otherwise."""
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.state == state)
            .values(reported_state=state, reported_at=now or utcnow())
            .returning(Job.id)
        )
        with write_lock(self._engine), self._writes() as session, session.begin():
            return session.execute(stmt).first() is not None

    def known_flakes(self, job_ids: list[int]) -> dict[int, list[str]]:
        """Of these failed runs, those whose every failing test is a known flake, with the
        tests (`db/flakes.py`)."""
        found: dict[int, list[str]] = {}
        with self._reads() as session, session.begin():
            for job_id in job_ids:
                verdict = flakes.of_run(session, job_id)
                if verdict is not None and verdict.known_flake:
                    found[job_id] = verdict.known_flaky_tests
        return found

    def pull_jobs(self, org: str, repo: str, number: int) -> list[JobView]:
        """Every presubmit of one pull request, newest first."""
        stmt = (
            select(*_COLUMNS)
            .where(
                Job.org == org,
                Job.repo == repo,
                Job.pull_number == number,
                Job.type == "presubmit",
            )
            .order_by(Job.id.desc())
        )
        with self._reads() as session, session.begin():
            return [_view(row) for row in session.execute(stmt)]
