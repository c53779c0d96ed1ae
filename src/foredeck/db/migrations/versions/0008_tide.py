"""Tide: the merge pools as the last sync saw them (the dashboard's pool page).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

tide_pools: one row per pool (org, repo, branch), rewritten after each sync
(foredeck/tide/record.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tide_pools",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("repo", sa.String(100), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("base_sha", sa.String(64), nullable=False),
        sa.Column("action", sa.String(255), nullable=False),
        sa.Column("pulls", _JSON, nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tide_pools"),
        sa.UniqueConstraint("org", "repo", "branch", name="uq_tide_pools_org"),
    )


def downgrade() -> None:
    op.drop_table("tide_pools")
