"""The tables. Migrations in `db/migrations/` must match these (a test compares them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import (
    Date,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    and_,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from foredeck.db.types import BigIntPK, CompressedPayload, JSONType, UTCDateTime

JobType = Literal["presubmit", "postsubmit", "periodic", "batch"]
JobState = Literal["triggered", "pending", "success", "failure", "aborted", "error"]
JOB_TYPES: tuple[JobType, ...] = ("presubmit", "postsubmit", "periodic", "batch")
JOB_STATES: tuple[JobState, ...] = (
    "triggered",
    "pending",
    "success",
    "failure",
    "aborted",
    "error",
)
UNFINISHED_STATES: tuple[JobState, ...] = ("triggered", "pending")
FINISHED_STATES: tuple[JobState, ...] = ("success", "failure", "aborted", "error")

# Stable constraint names, so that later migrations can address them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Event(Base):
    """One webhook delivery, as received. `processed_at IS NULL` means the worker still owes it."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(100), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    org: Mapped[str | None] = mapped_column(String(100))
    repo: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Earliest time of the next attempt after a failure (retry backoff)."""
    plugins_done: Mapped[list[str]] = mapped_column(JSONType, default=list)
    """Plugins that already handled this event; a retry runs only the others."""

    payload_row: Mapped[EventPayload] = relationship(
        back_populates="event", cascade="all, delete-orphan", uselist=False
    )

    @property
    def payload(self) -> bytes:
        """The JSON document exactly as GitHub sent it (for a form body: its `payload` field)."""
        return self.payload_row.body

    __table_args__ = (
        Index(
            "ix_events_pending",
            "id",
            sqlite_where=processed_at.is_(None),
            postgresql_where=processed_at.is_(None),
        ),
        Index("ix_events_org_repo_received", "org", "repo", "received_at"),
    )


class EventPayload(Base):
    """The body of an event, apart from the row the worker updates.

    SQLite rewrites a whole record (overflow pages included) on every UPDATE; keeping the ~25 KB
    payload in its own table makes marking an event processed cheap.
    """

    __tablename__ = "event_payloads"

    event_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[bytes] = mapped_column(CompressedPayload)
    """The payload as GitHub sent it; stored compressed, read back uncompressed."""
    event: Mapped[Event] = relationship(back_populates="payload_row")


class Job(Base):
    """One run of a job: created by plugins or periodics, driven by the controller."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    org: Mapped[str | None] = mapped_column(String(100))
    repo: Mapped[str | None] = mapped_column(String(100))
    base_ref: Mapped[str | None] = mapped_column(String(255))
    base_sha: Mapped[str | None] = mapped_column(String(64))
    pull_number: Mapped[int | None] = mapped_column()
    """The pull request of a presubmit (None for batches, postsubmits and periodics)."""
    pulls: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    refs: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    extra_refs: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    job_config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    context: Mapped[str | None] = mapped_column(String(255))
    agent: Mapped[str | None] = mapped_column(String(32))
    trigger_reason: Mapped[str | None] = mapped_column(Text)
    cause: Mapped[str | None] = mapped_column(String(128))
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    build_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(128))
    """The controller running the job (`pending`): `host:pid:random`."""
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Last sign of life from `owner`; a stale heartbeat means the controller died."""
    requeues: Mapped[int] = mapped_column(default=0, server_default="0")
    reported_state: Mapped[str | None] = mapped_column(String(16))
    """The state last reported to the SCM (commit status), so that reports are sent once."""
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suppress_report: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Set for superseded runs: aborted, and never reported."""
    workspace: Mapped[str | None] = mapped_column(Text)
    """The local directory of the run (checkout and executor output), removed by the sinker."""

    __table_args__ = (
        Index("ix_jobs_state_created", "state", "created_at"),
        Index("ix_jobs_state_heartbeat", "state", "heartbeat_at"),
        # Keyset pages (newest id first) within one filter: see migration 0003.
        Index("ix_jobs_name_id", "name", "id"),
        Index("ix_jobs_state_id", "state", "id"),
        Index("ix_jobs_type_id", "type", "id"),
        Index("ix_jobs_org_repo_id", "org", "repo", "id"),
        Index("ix_jobs_org_repo_pull", "org", "repo", "pull_number"),
        Index("ix_jobs_name_created", "name", "created_at"),
        # The reporter's due jobs: see migration 0004.
        Index(
            "ix_jobs_unreported",
            "id",
            sqlite_where=and_(reported_state.is_distinct_from(state), suppress_report.is_(False)),
            postgresql_where=and_(
                reported_state.is_distinct_from(state), suppress_report.is_(False)
            ),
        ),
    )

    def __repr__(self) -> str:
        return f"Job(id={self.id}, name={self.name!r}, type={self.type}, state={self.state})"


class ScmStatus(Base):
    """A commit status kept by the `local` SCM provider (GitHub keeps its own)."""

    __tablename__ = "scm_statuses"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(100))
    repo: Mapped[str] = mapped_column(String(100))
    sha: Mapped[str] = mapped_column(String(64))
    context: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    target_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("org", "repo", "sha", "context"),)


class ScmComment(Base):
    """A pull request comment kept by the `local` SCM provider."""

    __tablename__ = "scm_comments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(100))
    repo: Mapped[str] = mapped_column(String(100))
    number: Mapped[int] = mapped_column()
    author: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_scm_comments_org_repo_number", "org", "repo", "number"),)


LeaseState = Literal["free", "busy", "dirty", "cleaning", "tombstone"]
LEASE_STATES: tuple[LeaseState, ...] = ("free", "busy", "dirty", "cleaning", "tombstone")


class LeaseResource(Base):
    """A resource that jobs lease (Boskos-like): static from settings or made by a provider.

    `lease_id` names the current holder's lease while `busy`; `expires_at` is when the reaper
    takes a busy (or `cleaning`) resource back unless its holder heartbeats first.
    """

    __tablename__ = "lease_resources"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    dynamic: Mapped[bool] = mapped_column(default=False, server_default=false())
    owner: Mapped[str | None] = mapped_column(String(255))
    lease_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    user_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("type", "name"),
        # The acquire query: the first free resource of a type, by id.
        Index("ix_lease_resources_type_state_id", "type", "state", "id"),
        Index("ix_lease_resources_state_expires", "state", "expires_at"),
    )


class LeaseInterval(Base):
    """One lease of one resource: who held it from when to when (and how it ended)."""

    __tablename__ = "lease_intervals"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lease_id: Mapped[str] = mapped_column(String(64), unique=True)
    resource_id: Mapped[int] = mapped_column(BigIntPK)
    type: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended: Mapped[str | None] = mapped_column(String(16))
    """`released` (by its holder) or `expired` (taken back by the reaper)."""

    __table_args__ = (
        Index("ix_lease_intervals_resource_acquired", "resource_id", "acquired_at"),
        # A job's leases (`leases.held.job_leases`): by owner, in the order acquired.
        Index("ix_lease_intervals_owner_acquired", "owner", "acquired_at"),
    )


class ApiToken(Base):
    """A personal API token: only its SHA-256 is kept (`token_hash`), never the token.

    It acts for `user` with the teams and groups they had when it was made, never above
    `role`; it stops working at `expires_at` or once `revoked_at` is set."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    """The token's first characters (`fdt_abcd`), so that a listing can tell tokens apart."""
    user: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    teams: Mapped[list[str]] = mapped_column(JSONType, default=list)
    groups: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_api_tokens_user_id", "user", "id"),)


class AuditEntry(Base):
    """Who did what and when: a rerun, an abort, a start, a token made or revoked, a reload."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(100))
    via: Mapped[str] = mapped_column(String(16))
    """How the actor was authenticated: `token`, `bootstrap`, `session`, `system`..."""
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_id", "actor", "id"),
        Index("ix_audit_log_action_id", "action", "id"),
    )


class TidePool(Base):
    """A merge pool (a repository's branch) as Tide's last sync saw it: the dashboard's pool
    page reads it. Rewritten after each sync; only the last one counts."""

    __tablename__ = "tide_pools"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(100))
    repo: Mapped[str] = mapped_column(String(100))
    branch: Mapped[str] = mapped_column(String(255))
    base_sha: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(255))
    """What Tide did or waits for: `merge`, `merge-batch`, `batch`, `retest`, `wait`, ..."""
    pulls: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    """Each pull request: `number`, `title`, `sha`, `why` (its `tide` status), `ready`."""
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("org", "repo", "branch"),)


class TestName(Base):
    """A test's name (`classname.name`), stored once: results refer to it by id."""

    __test__ = False  # not a pytest class
    __tablename__ = "test_names"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the name: names may be longer than an index entry may be."""
    name: Mapped[str] = mapped_column(Text)


class RunTest(Base):
    """One test's outcome in one run (from its JUnit files), written when the run finishes."""

    __tablename__ = "run_tests"

    job_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    test_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    status: Mapped[str] = mapped_column(String(8))
    """`passed`, `failed` or `skipped`."""
    duration: Mapped[float | None] = mapped_column(Float)


class RunOutcome(Base):
    """A finished run as the test grids and flake rates see it: its job, the commit it tested
    and its state. `flaky`: another run of the job on that commit ended the other way."""

    __tablename__ = "run_outcomes"

    job_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255))
    sha: Mapped[str] = mapped_column(String(64))
    """The commit the run tested (`testresults.commit_key`)."""
    state: Mapped[str] = mapped_column(String(16))
    day: Mapped[date] = mapped_column(Date)
    duration: Mapped[float | None] = mapped_column(Float)
    tests: Mapped[int] = mapped_column(default=0, server_default="0")
    failed_tests: Mapped[int] = mapped_column(default=0, server_default="0")
    flaky: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (
        Index("ix_run_outcomes_name_sha", "name", "sha"),
        Index("ix_run_outcomes_name_job", "name", "job_id"),
    )


class JobDay(Base):
    """One job's runs of one day (UTC), kept up to date as runs finish: flake rates over a
    window add a few of these rows instead of scanning the runs."""

    __tablename__ = "job_days"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    runs: Mapped[int] = mapped_column(default=0)
    passed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    flaky: Mapped[int] = mapped_column(default=0)
    """Commits of the job that turned flaky that day (a failed and a passed run on one)."""


class TestDay(Base):
    """One test's outcomes in one job's runs of one day (UTC), like `JobDay`."""

    __test__ = False  # not a pytest class
    __tablename__ = "test_days"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    test_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    runs: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    flaky: Mapped[int] = mapped_column(default=0)
    """Commits on which the test turned flaky that day (failed and passed in the job's runs)."""

    __table_args__ = (
        # One test's window (is it known flaky?); the primary key serves a job's grid rows.
        Index("ix_test_days_name_test_day", "name", "test_id", "day"),
        # The flaky-tests page: the few rows with a flake, by day.
        Index(
            "ix_test_days_flaky_day",
            "day",
            sqlite_where=text("flaky > 0"),
            postgresql_where=text("flaky > 0"),
        ),
    )


class TestgridTab(Base):
    """A tab of a TestGrid dashboard: a job whose `testgrid-dashboards` annotation names the
    dashboard, under its `testgrid-tab-name` (else its name). Kept as runs finish."""

    __test__ = False  # not a pytest class
    __tablename__ = "testgrid_tabs"

    dashboard: Mapped[str] = mapped_column(String(255), primary_key=True)
    tab: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
