"""Leases: resources jobs hold for a while, and the record of who held what when.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

lease_resources: typed resources in states free, busy, dirty, cleaning and tombstone, with the
current holder, its heartbeat and expiry (foredeck/leases). lease_intervals: every lease's
acquired and released times, so that overlaps can be checked after the fact.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "lease_resources",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("dynamic", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("lease_id", sa.String(64), nullable=True),
        sa.Column("user_data", _JSON, nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        _ts("acquired_at"),
        _ts("heartbeat_at"),
        _ts("expires_at"),
        sa.PrimaryKeyConstraint("id", name="pk_lease_resources"),
        sa.UniqueConstraint("type", "name", name="uq_lease_resources_type"),
        sa.UniqueConstraint("lease_id", name="uq_lease_resources_lease_id"),
    )
    op.create_index("ix_lease_resources_type_state_id", "lease_resources", ["type", "state", "id"])
    op.create_index("ix_lease_resources_state_expires", "lease_resources", ["state", "expires_at"])
    op.create_table(
        "lease_intervals",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("lease_id", sa.String(64), nullable=False),
        sa.Column("resource_id", _ID, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        _ts("acquired_at", nullable=False),
        _ts("released_at"),
        sa.Column("ended", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lease_intervals"),
        sa.UniqueConstraint("lease_id", name="uq_lease_intervals_lease_id"),
    )
    op.create_index(
        "ix_lease_intervals_resource_acquired",
        "lease_intervals",
        ["resource_id", "acquired_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_lease_intervals_resource_acquired", table_name="lease_intervals")
    op.drop_table("lease_intervals")
    op.drop_index("ix_lease_resources_state_expires", table_name="lease_resources")
    op.drop_index("ix_lease_resources_type_state_id", table_name="lease_resources")
    op.drop_table("lease_resources")
