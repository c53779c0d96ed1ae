"""Controller, reporting and the local SCM provider.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

jobs: which controller runs a job and when it last proved alive (restart recovery), how often it
was re-queued, the latest state reported to the SCM, whether reporting is suppressed
(superseded runs), and the local workspace. scm_statuses / scm_comments: the `local` SCM
provider keeps commit statuses and PR comments in foredeck's own database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(128), nullable=True))
        batch.add_column(_ts("heartbeat_at"))
        batch.add_column(sa.Column("requeues", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reported_state", sa.String(16), nullable=True))
        batch.add_column(_ts("reported_at"))
        batch.add_column(
            sa.Column("suppress_report", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("workspace", sa.Text(), nullable=True))
    op.create_index("ix_jobs_state_heartbeat", "jobs", ["state", "heartbeat_at"])

    op.create_table(
        "scm_statuses",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("repo", sa.String(100), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("context", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("target_url", sa.Text(), nullable=True),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scm_statuses"),
        sa.UniqueConstraint("org", "repo", "sha", "context", name="uq_scm_statuses_org"),
    )
    op.create_table(
        "scm_comments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("repo", sa.String(100), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scm_comments"),
    )
    op.create_index("ix_scm_comments_org_repo_number", "scm_comments", ["org", "repo", "number"])


def downgrade() -> None:
    op.drop_index("ix_scm_comments_org_repo_number", table_name="scm_comments")
    op.drop_table("scm_comments")
    op.drop_table("scm_statuses")
    op.drop_index("ix_jobs_state_heartbeat", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        for column in (
            "workspace",
            "suppress_report",
            "reported_at",
            "reported_state",
            "requeues",
            "heartbeat_at",
            "owner",
        ):
            batch.drop_column(column)
