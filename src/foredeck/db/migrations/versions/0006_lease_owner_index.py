"""An index of lease intervals by owner, the query of a job's leases.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

The API's job detail and the run page read a job's leases by owner (`job/<id>`,
`leases.held.job_leases`), in the order acquired. Without an index that query read every
interval ever recorded, a table that grows by one row per lease, forever.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_lease_intervals_owner_acquired",
        "lease_intervals",
        ["owner", "acquired_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_lease_intervals_owner_acquired", table_name="lease_intervals")
