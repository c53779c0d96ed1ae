"""Initial schema: the event log and jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Migrations are frozen history: they use plain SQLAlchemy types, never the application's models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(100), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=True),
        sa.Column("org", sa.String(100), nullable=True),
        sa.Column("repo", sa.String(100), nullable=True),
        _ts("received_at", nullable=False),
        _ts("processed_at"),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("not_before"),
        sa.Column("plugins_done", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("delivery_id", name="uq_events_delivery_id"),
    )
    op.create_index(
        "ix_events_pending",
        "events",
        ["id"],
        sqlite_where=sa.text("processed_at IS NULL"),
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_index("ix_events_org_repo_received", "events", ["org", "repo", "received_at"])
    op.create_table(
        "event_payloads",
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name="fk_event_payloads_event_id_events",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name="pk_event_payloads"),
    )

    op.create_table(
        "jobs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("org", sa.String(100), nullable=True),
        sa.Column("repo", sa.String(100), nullable=True),
        sa.Column("base_ref", sa.String(255), nullable=True),
        sa.Column("base_sha", sa.String(64), nullable=True),
        sa.Column("pull_number", sa.Integer(), nullable=True),
        sa.Column("pulls", _JSON, nullable=False),
        sa.Column("refs", _JSON, nullable=True),
        sa.Column("extra_refs", _JSON, nullable=False),
        sa.Column("job_config", _JSON, nullable=False),
        sa.Column("context", sa.String(255), nullable=True),
        sa.Column("agent", sa.String(32), nullable=True),
        sa.Column("trigger_reason", sa.Text(), nullable=True),
        sa.Column("cause", sa.String(128), nullable=True),
        sa.Column("dedupe_key", sa.String(255), nullable=True),
        _ts("created_at", nullable=False),
        _ts("started_at"),
        _ts("finished_at"),
        sa.Column("build_id", sa.String(64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("dedupe_key", name="uq_jobs_dedupe_key"),
    )
    op.create_index("ix_jobs_state_created", "jobs", ["state", "created_at"])
    op.create_index("ix_jobs_org_repo_pull", "jobs", ["org", "repo", "pull_number"])
    op.create_index("ix_jobs_name_created", "jobs", ["name", "created_at"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("event_payloads")
    op.drop_table("events")
