"""A partial index of the jobs the reporter still has to report.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

The reporter polls every second for jobs whose `state` differs from `reported_state`. Without
an index for that condition its query walked the primary key through every reported job
(bench/reporter_due.py: 60 ms with 300k jobs, growing with the table); the partial index holds
only the jobs still due, so the query reads those and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_jobs = sa.table(
    "jobs",
    sa.column("reported_state", sa.String()),
    sa.column("state", sa.String()),
    sa.column("suppress_report", sa.Boolean()),
)
# Written as the reporter's query writes it (`ReportStore.due`): SQLite uses a partial index
# only when the query's WHERE clause contains the index's terms.
UNREPORTED = sa.and_(
    _jobs.c.reported_state.is_distinct_from(_jobs.c.state),
    _jobs.c.suppress_report.is_(False),
)


def upgrade() -> None:
    op.create_index(
        "ix_jobs_unreported",
        "jobs",
        ["id"],
        sqlite_where=UNREPORTED,
        postgresql_where=UNREPORTED,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_unreported", table_name="jobs")
