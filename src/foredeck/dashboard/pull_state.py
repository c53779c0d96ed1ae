"""What the `local` SCM provider keeps of a pull request, for its page (`/pr-history/...`).

With `scm.provider: local` there is no GitHub to show a pull request's commit statuses and
foredeck's report comment: they are rows of `scm_statuses` and `scm_comments`, read here. With
GitHub the tables are empty and the page shows nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from foredeck.db.models import ScmComment, ScmStatus

MAX_STATUSES = 500
"""Statuses read per page (every context of every commit shown; a PR has a few dozen)."""
MAX_COMMENTS = 50
"""The newest comments shown."""
MAX_BODY_CHARS = 65_536
REPORT_MARKER = "<!-- foredeck report -->"
"""`foredeck.report.comment.MARKER` (not imported: the dashboard does not load the reporter)."""


@dataclass(frozen=True)
class Status:
    context: str
    state: str
    description: str
    target_url: str | None
    updated: datetime


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str
    created: datetime
    report: bool
    """foredeck's report comment: the bot wrote it with the report's marker."""


def commit_statuses(
    session: Session, org: str, repo: str, shas: Sequence[str]
) -> dict[str, list[Status]]:
    """Per commit, its statuses (the latest per context), by context."""
    if not shas:
        return {}
    stmt = (
        select(ScmStatus)
        .where(ScmStatus.org == org, ScmStatus.repo == repo, ScmStatus.sha.in_(list(shas)))
        .order_by(ScmStatus.sha, ScmStatus.context)
        .limit(MAX_STATUSES)
    )
    found: dict[str, list[Status]] = {}
    for row in session.execute(stmt).scalars():
        status = Status(
            row.context, row.state, row.description or "", row.target_url, row.updated_at
        )
        found.setdefault(row.sha, []).append(status)
    return found


def pull_comments(
    session: Session, org: str, repo: str, number: int, bot_login: str | None
) -> list[Comment]:
    """The newest comments, oldest first (as a conversation reads)."""
    stmt = (
        select(ScmComment)
        .where(ScmComment.org == org, ScmComment.repo == repo, ScmComment.number == number)
        .order_by(ScmComment.created_at.desc(), ScmComment.id.desc())
        .limit(MAX_COMMENTS)
    )
    rows = list(session.execute(stmt).scalars())
    bot = bot_login.lower() if bot_login else None
    return [
        Comment(
            row.id,
            row.author,
            row.body[:MAX_BODY_CHARS].replace(REPORT_MARKER, "").strip(),
            row.created_at,
            REPORT_MARKER in row.body and (bot is None or row.author.lower() == bot),
        )
        for row in reversed(rows)
    ]
