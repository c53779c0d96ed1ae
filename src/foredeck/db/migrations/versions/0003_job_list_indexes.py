"""Indexes for the job list at scale: keyset pages by id within a filter.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

`/api/jobs?job=X` and `?state=Y` page newest first by id; with only (name, created_at) and
(state, created_at) SQLite sorted every matching row (measured 340-505 ms p95 with 1M jobs;
3.6-3.8 ms with these).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_jobs_name_id": ["name", "id"],
    "ix_jobs_state_id": ["state", "id"],
    "ix_jobs_type_id": ["type", "id"],
    "ix_jobs_org_repo_id": ["org", "repo", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "jobs", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="jobs")
