"""Test grids and flakes: each run's test outcomes and incremental per-day aggregates.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

test_names: each test's name once. run_tests: a run's outcome per test (from JUnit).
run_outcomes: a finished run's job, commit and state, `flaky` once the job both failed and passed
on that commit. job_days, test_days: per-day counts updated as runs finish, so that flake rates
over a window read a few rows per job or test (foredeck/db/testresults.py). testgrid_tabs: jobs
by their `testgrid-dashboards` annotation.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _count(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Integer(), nullable=False)


def _job_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["job_id"], ["jobs.id"], name=f"fk_{table}_job_id_jobs", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "test_names",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_test_names"),
        sa.UniqueConstraint("key", name="uq_test_names_key"),
    )
    op.create_table(
        "run_tests",
        sa.Column("job_id", _ID, nullable=False),
        sa.Column("test_id", _ID, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "test_id", name="pk_run_tests"),
        _job_fk("run_tests"),
    )
    op.create_table(
        "run_outcomes",
        sa.Column("job_id", _ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("tests", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_tests", sa.Integer(), server_default="0", nullable=False),
        sa.Column("flaky", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_run_outcomes"),
        _job_fk("run_outcomes"),
    )
    op.create_index("ix_run_outcomes_name_sha", "run_outcomes", ["name", "sha"])
    op.create_index("ix_run_outcomes_name_job", "run_outcomes", ["name", "job_id"])
    op.create_table(
        "job_days",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _count("runs"),
        _count("passed"),
        _count("failed"),
        _count("flaky"),
        sa.PrimaryKeyConstraint("name", "day", name="pk_job_days"),
    )
    op.create_table(
        "test_days",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("test_id", _ID, nullable=False),
        _count("runs"),
        _count("failed"),
        _count("flaky"),
        sa.PrimaryKeyConstraint("name", "day", "test_id", name="pk_test_days"),
    )
    op.create_index("ix_test_days_name_test_day", "test_days", ["name", "test_id", "day"])
    op.create_index(
        "ix_test_days_flaky_day",
        "test_days",
        ["day"],
        sqlite_where=sa.text("flaky > 0"),
        postgresql_where=sa.text("flaky > 0"),
    )
    op.create_table(
        "testgrid_tabs",
        sa.Column("dashboard", sa.String(255), nullable=False),
        sa.Column("tab", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dashboard", "tab", name="pk_testgrid_tabs"),
    )


def downgrade() -> None:
    op.drop_table("testgrid_tabs")
    op.drop_index("ix_test_days_flaky_day", table_name="test_days")
    op.drop_index("ix_test_days_name_test_day", table_name="test_days")
    op.drop_table("test_days")
    op.drop_table("job_days")
    op.drop_index("ix_run_outcomes_name_job", table_name="run_outcomes")
    op.drop_index("ix_run_outcomes_name_sha", table_name="run_outcomes")
    op.drop_table("run_outcomes")
    op.drop_table("run_tests")
    op.drop_table("test_names")
