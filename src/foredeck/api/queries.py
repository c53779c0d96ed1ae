"""Job queries of the API that `foredeck.db.jobs` does not have: the pull-author filter.

The author lives inside the `pulls` JSON column, so the filter is written per backend: a
`json_each` subquery on SQLite and JSONB containment (`@>`) on PostgreSQL. Both run in SQL, so
keyset pagination stays exact: a page never skips or repeats a job.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, exists, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from foredeck.db.models import Job, JobState, JobType

MAX_LIMIT = 500


def author_filter(dialect: str, author: str) -> ColumnElement[bool]:
    """Jobs with a pull by `author` (any pull of a batch)."""
    if dialect == "postgresql":
        return type_coerce(Job.pulls, JSONB).contains([{"author": author}])
    each = func.json_each(Job.pulls).table_valued("value").alias("pull")
    return exists().select_from(each).where(func.json_extract(each.c.value, "$.author") == author)


def search_jobs(
    session: Session,
    *,
    org: str | None = None,
    repo: str | None = None,
    name: str | None = None,
    type: JobType | None = None,
    state: JobState | Collection[JobState] | None = None,
    pull_number: int | None = None,
    author: str | None = None,
    limit: int = 50,
    after_id: int | None = None,
) -> list[Job]:
    """Jobs newest first (by id); `after_id` is the last id of the previous page."""
    stmt = select(Job)
    if org is not None:
        stmt = stmt.where(Job.org == org)
    if repo is not None:
        stmt = stmt.where(Job.repo == repo)
    if name is not None:
        stmt = stmt.where(Job.name == name)
    if type is not None:
        stmt = stmt.where(Job.type == type)
    if isinstance(state, str):
        stmt = stmt.where(Job.state == state)
    elif state is not None:
        stmt = stmt.where(Job.state.in_(list(state)))
    if pull_number is not None:
        stmt = stmt.where(Job.pull_number == pull_number)
    if author is not None:
        stmt = stmt.where(author_filter(session.get_bind().dialect.name, author))
    if after_id is not None:
        stmt = stmt.where(Job.id < after_id)
    # One more than a page may be asked for: that is how a caller learns a next page exists.
    stmt = stmt.order_by(Job.id.desc()).limit(max(1, min(limit, MAX_LIMIT + 1)))
    return list(session.execute(stmt).scalars())
