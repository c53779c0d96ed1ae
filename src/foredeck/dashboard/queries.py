"""The dashboard's reads, each shaped to walk one of the existing indexes.

Newest first means by id (the primary key); where a filter has an index ending in
`created_at` (`ix_jobs_name_created`, `ix_jobs_state_created`), pages are ordered by
`(created_at, id)` instead, which is the same order up to clock ties, and the index delivers the
rows already sorted: no sort of every run of a popular job. The keyset cursor is always a job id
(`after=ID`); its `created_at` is looked up by primary key.

- job list: `list_page` (the page and its live rows share it);
- job history and the badge: `ix_jobs_name_created`;
- PR history: `ix_jobs_org_repo_pull`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from foredeck.db.jobs import author_filter
from foredeck.db.models import FINISHED_STATES, Job, JobState, JobType

MAX_PR_RUNS = 1000
"""PR history shows at most this many runs (a PR with more is pathological)."""


@dataclass(frozen=True)
class JobFilter:
    """Equality filters of the job list; None means "any"."""

    org: str | None = None
    repo: str | None = None
    name: str | None = None
    type: JobType | None = None
    state: JobState | None = None
    pull_number: int | None = None
    author: str | None = None


def _cursor(session: Session, after_id: int) -> datetime | None:
    """`created_at` of job `after_id`, or of the newest job before it (the sinker may have
    removed the job a page ended with)."""
    stmt = select(Job.created_at).where(Job.id <= after_id).order_by(Job.id.desc()).limit(1)
    return session.execute(stmt).scalar_one_or_none()


def _before(created_at: datetime, after_id: int) -> ColumnElement[bool]:
    """Strictly after `(created_at, after_id)` in newest-first order; the plain `<=` lets an
    index on `(..., created_at)` seek to the cursor."""
    return and_(
        Job.created_at <= created_at,
        or_(Job.created_at < created_at, Job.id < after_id),
    )


def _author(session: Session, author: str) -> ColumnElement[bool]:
    dialect = session.get_bind().dialect.name
    exact = author_filter(dialect, author)
    plain = author.isascii() and author.isprintable() and not set(author) & {'"', "\\"}
    if dialect != "sqlite" or not plain:
        return exact
    # `json_each` per row is slow; a substring test on the stored JSON text drops almost every
    # row first, and the exact test decides. Only for names that every JSON writer spells the
    # same way (GitHub logins are ASCII letters, digits and dashes).
    return and_(func.instr(Job.pulls, json.dumps(author)) > 0, exact)


Visible = ColumnElement[bool] | None
"""A condition keeping the jobs the caller may see (`Access.visible`); None: all of them."""


def _seen(stmt: Select[Any], visible: Visible) -> Select[Any]:
    return stmt if visible is None else stmt.where(visible)


SCAN_WINDOW = 100_000
"""Filters without an index of their own (`author`, `type`, `pr` or `repo` alone) look at most
this many ids per request; a page that is not full then says where to continue."""


@dataclass
class Page:
    jobs: list[Job]
    searched_to: int | None = None
    """Set when the search stopped at the scan window with fewer jobs than asked: no job with an
    id in `[searched_to, after)` is missing, and the next page continues with
    `after=searched_to`."""


def list_page(
    session: Session,
    where: JobFilter,
    *,
    limit: int,
    after_id: int | None = None,
    visible: Visible = None,
) -> Page:
    """Up to `limit` jobs matching `where` that the caller may see (`visible`, from
    `Access.visible`), newest first, after job `after_id`."""
    by_time = where.name is not None or (where.state is not None and where.author is None)
    by_pull = where.org is not None and where.repo is not None and where.pull_number is not None
    windowed = not (by_time or by_pull or where == JobFilter())
    stmt = _seen(select(Job).where(*_equalities(where, fenced=windowed)), visible)
    if where.author is not None:
        stmt = stmt.where(_author(session, where.author))
    if by_time:
        index = "ix_jobs_name_created" if where.name is not None else "ix_jobs_state_created"
        if after_id is not None:
            cursor = _cursor(session, after_id)
            if cursor is None:
                return Page([])
            stmt = stmt.where(_before(cursor, after_id))
        # SQLite has no statistics unless ANALYZE ran: tell it which index gives the order.
        stmt = stmt.with_hint(Job, f"INDEXED BY {index}", "sqlite")
        stmt = stmt.order_by(Job.created_at.desc(), Job.id.desc())
        return Page(list(session.execute(stmt.limit(limit)).scalars()))
    if after_id is not None:
        stmt = stmt.where(Job.id < after_id)
    stmt = stmt.order_by(Job.id.desc())
    if not windowed:
        # `ix_jobs_org_repo_pull` finds a pull's few runs; no filter reads the newest ids.
        return Page(list(session.execute(stmt.limit(limit)).scalars()))
    top = after_id if after_id is not None else _next_id(session)
    low = max(0, top - SCAN_WINDOW)
    # The primary key, newest first, within the window; never a filter's index, which would
    # fetch and sort every run of a popular repository.
    stmt = stmt.where(Job.id >= low).with_hint(Job, "NOT INDEXED", "sqlite")
    jobs = list(session.execute(stmt.limit(limit)).scalars())
    if len(jobs) < limit and low > 0 and _any_before(session, low):
        return Page(jobs, searched_to=low)
    return Page(jobs)


def _equalities(where: JobFilter, *, fenced: bool) -> list[ColumnElement[bool]]:
    """`column = value` for each filter given. `fenced` wraps the columns in `coalesce`, so
    that no index on them applies: PostgreSQL multiplies the selectivities of `org` and `repo`
    (which are correlated), expects a handful of rows, and picks `ix_jobs_org_repo_pull` plus
    a sort over a primary-key scan that would stop after one page."""
    conditions: list[ColumnElement[bool]] = []
    for column, value in (
        (Job.org, where.org),
        (Job.repo, where.repo),
        (Job.name, where.name),
        (Job.type, where.type),
        (Job.state, where.state),
    ):
        if value is not None:
            conditions.append((func.coalesce(column, "") if fenced else column) == value)
    if where.pull_number is not None:
        number = func.coalesce(Job.pull_number, -1) if fenced else Job.pull_number
        conditions.append(number == where.pull_number)
    return conditions


def _next_id(session: Session) -> int:
    return int(session.execute(select(func.max(Job.id))).scalar_one_or_none() or 0) + 1


def _any_before(session: Session, job_id: int) -> bool:
    stmt = select(Job.id).where(Job.id < job_id).limit(1)
    return session.execute(stmt).first() is not None


def job_history(
    session: Session, name: str, *, limit: int, after_id: int | None = None, visible: Visible = None
) -> list[Job]:
    """Runs of job `name`, newest first; `after_id` is the last job of the previous page.

    Returns up to `limit` jobs; ask for one more than a page to learn whether another follows.
    """
    stmt = _seen(select(Job).where(Job.name == name), visible)
    if after_id is not None:
        cursor = _cursor(session, after_id)
        if cursor is None:
            return []
        stmt = stmt.where(_before(cursor, after_id))
    stmt = stmt.with_hint(Job, "INDEXED BY ix_jobs_name_created", "sqlite")
    stmt = stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
    return list(session.execute(stmt).scalars())


def job_exists(session: Session, name: str, visible: Visible = None) -> bool:
    stmt = _seen(select(Job.id).where(Job.name == name), visible)
    return session.execute(stmt.limit(1)).first() is not None


def latest_finished(session: Session, name: str, visible: Visible = None) -> Job | None:
    """The newest finished run of job `name` (for its badge)."""
    stmt = (
        _seen(select(Job), visible)
        .where(Job.name == name, Job.state.in_(FINISHED_STATES))
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(1)
    )
    return session.execute(stmt).scalars().first()


@dataclass
class CommitRuns:
    """The runs of one head commit of a pull request, newest first."""

    sha: str
    jobs: list[Job] = field(default_factory=list)


def pr_runs(
    session: Session, org: str, repo: str, number: int, visible: Visible = None
) -> list[Job]:
    """Presubmit runs of pull request `org/repo#number`, newest first."""
    stmt = (
        _seen(select(Job), visible)
        .where(Job.org == org, Job.repo == repo, Job.pull_number == number)
        .order_by(Job.id.desc())
        .limit(MAX_PR_RUNS)
    )
    return list(session.execute(stmt).scalars())


def group_by_commit(jobs: Sequence[Job]) -> list[CommitRuns]:
    """Group runs (newest first) by the pull's head sha, the group of the newest run first."""
    groups: dict[str, CommitRuns] = {}
    for job in jobs:
        pulls = job.pulls or []
        sha = str(pulls[0].get("sha") or "") if pulls else ""
        groups.setdefault(sha, CommitRuns(sha)).jobs.append(job)
    return list(groups.values())
