"""`/api`: list, show, start, rerun and abort jobs, and read their logs.

Reads go through `read_only(engine)` sessions (`web.deps.Reads`) so that a busy dashboard never
takes SQLite's write lock; writes are one short transaction each under `write_lock`. After a
write the app's `on_change` callback wakes the in-process controller and reporter (they also
poll, so it is only a hint). What the routes read is on `app.state` (`api.deps`, `web.deps`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from foredeck.access import audit
from foredeck.access.gate import Gate, RequestGate
from foredeck.access.principal import Principal
from foredeck.api import logs
from foredeck.api.auth import GuardedRoute
from foredeck.api.deps import Callback, Central, OnChange, Scm, Store
from foredeck.api.models import ErrorBody, JobDetail, JobPage, JobSummary, StartJob, Unprocessable
from foredeck.bounds import NO_NUL, JobId, Offset, PullNumber
from foredeck.db import flakes
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, create_job, get_job, list_jobs, set_state
from foredeck.db.models import Job, JobState, JobType
from foredeck.jobs import BadRequest, UnknownJob, rerun_spec, start_spec
from foredeck.leases.held import job_leases
from foredeck.web.deps import AppEngine, AppSettings, Reads, Writes

MAX_LIMIT = 500  # jobs per page of GET /api/jobs

log = logging.getLogger(__name__)

ABORT_DESCRIPTION = "Aborted through the API"

Responses = dict[int | str, dict[str, Any]]

_NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "No such job"}}

# Every write needs a token and is refused from other sites (`api/auth.py`); every route checks
# the caller's role on the job's repository (`access/gate.py`, docs/access.md).
router = APIRouter(
    prefix="/api",
    tags=["jobs"],
    route_class=GuardedRoute,
    responses={422: {"model": Unprocessable, "description": "Invalid or unfitting request"}},
)


@router.get("/jobs", response_model=JobPage)
def list_jobs_route(
    reads: Reads,
    gate: RequestGate,
    settings: AppSettings,
    repo: Annotated[
        str | None,
        Query(description="`org/repo`", max_length=201, pattern=r"^[^/\x00]+/[^\x00\n]+$"),
    ] = None,
    job: Annotated[
        str | None, Query(description="job name", max_length=255, pattern=NO_NUL)
    ] = None,
    type: JobType | None = None,
    state: Annotated[list[JobState] | None, Query()] = None,
    pr: PullNumber | None = None,
    author: Annotated[
        str | None, Query(description="pull author", max_length=100, pattern=NO_NUL)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    after: Annotated[Offset | None, Query(description="the `next` of the previous page")] = None,
) -> JobPage:
    org = name = None
    if repo is not None:
        org, _, name = repo.partition("/")
    with reads() as session:
        rows = list_jobs(
            session,
            org=org,
            repo=name,
            name=job,
            type=type,
            state=state or None,
            pull_number=pr,
            author=author,
            limit=limit + 1,  # one more than a page: how we learn a next page exists
            after_id=after,
            max_limit=MAX_LIMIT + 1,
            visible=gate.visible(),
        )
        page = [JobSummary.of(row, settings.reporter.dashboard_url) for row in rows[:limit]]
    more = len(rows) > limit
    return JobPage(jobs=page, next=page[-1].id if more else None)


@router.get("/jobs/{job_id}", response_model=JobDetail, responses=_NOT_FOUND)
def show_job(job_id: JobId, reads: Reads, settings: AppSettings, gate: RequestGate) -> JobDetail:
    with reads() as session:
        job = _get(session, job_id, gate)
        leases = job_leases(session, job_id, settings.leases.prices)
        verdict = flakes.of_run(session, job_id)
        return JobDetail.of(job, settings.reporter.dashboard_url, leases, verdict)


@router.get(
    "/jobs/{job_id}/log",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "The job's build-log.txt"},
        **_NOT_FOUND,
    },
)
def job_log(
    job_id: JobId,
    reads: Reads,
    store: Store,
    gate: RequestGate,
    tail: Annotated[int | None, Query(ge=0, le=logs.MAX_TAIL_LINES)] = None,
) -> StreamingResponse:
    with reads() as session:
        job = _get(session, job_id, gate)
        source = logs.find_log(job, store())
    if source is None:
        raise HTTPException(404, f"job {job_id} has no build log yet")
    try:
        part = logs.plan(source, tail)
    except (OSError, ValueError) as exc:
        # The error names the file: logged here, never sent (paths are the server's business).
        log.warning("job %s: build log unreadable: %s", job_id, exc)
        raise HTTPException(404, f"job {job_id}: build log unreadable") from None
    headers = {
        "X-Log-Size": str(part.size),
        "X-Log-Source": source.name,
        "X-Log-Truncated": "true" if part.truncated else "false",
    }
    return StreamingResponse(
        logs.stream(source, part), media_type="text/plain; charset=utf-8", headers=headers
    )


@router.post(
    "/jobs",
    response_model=JobDetail,
    status_code=201,
    responses={404: {"model": ErrorBody, "description": "No such configured job"}},
)
def start_job(
    body: StartJob,
    central: Central,
    scm: Scm,
    engine: AppEngine,
    writes: Writes,
    settings: AppSettings,
    on_change: OnChange,
    gate: RequestGate,
) -> JobDetail:
    if central is None:
        raise HTTPException(404, "no job config (config_path) is configured")
    # Before the config is read: its answers (no such job, not on that branch) are the
    # repository's business, for those who may start its jobs.
    org, repo = (body.refs.org, body.refs.repo) if body.refs is not None else (None, None)
    gate.require("editor", org, repo, f"start job {body.name}")
    try:
        spec = start_spec(
            central.get(),
            body.name,
            type=body.type,
            refs=body.refs,
            pull=body.pull,
            pull_ref=scm.pull_ref,
        )
    except UnknownJob as exc:
        raise HTTPException(404, str(exc)) from None
    except BadRequest as exc:
        raise HTTPException(422, str(exc)) from None
    if spec.refs is not None:
        gate.require("editor", spec.refs.org, spec.refs.repo, f"start job {body.name}")
    return _insert(spec, engine, writes, settings.reporter.dashboard_url, on_change, gate.who)


@router.post(
    "/jobs/{job_id}/rerun",
    response_model=JobDetail,
    status_code=201,
    responses=_NOT_FOUND,
)
def rerun_job(
    job_id: JobId,
    reads: Reads,
    engine: AppEngine,
    writes: Writes,
    settings: AppSettings,
    on_change: OnChange,
    gate: RequestGate,
) -> JobDetail:
    with reads() as session:
        job = _get(session, job_id, gate)
        gate.require("editor", job.org, job.repo, f"rerun job {job_id}")
        try:
            spec = rerun_spec(job)
        except ValidationError as exc:
            raise HTTPException(422, f"job {job_id} cannot be rerun: {exc}") from None
    url = settings.reporter.dashboard_url
    return _insert(spec, engine, writes, url, on_change, gate.who, rerun_of=job_id)


@router.post(
    "/jobs/{job_id}/abort",
    response_model=JobDetail,
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorBody, "description": "The job already finished"},
    },
)
def abort_job(
    job_id: JobId,
    engine: AppEngine,
    writes: Writes,
    settings: AppSettings,
    on_change: OnChange,
    gate: RequestGate,
) -> JobDetail:
    with write_lock(engine), writes.begin() as session:
        job = _get(session, job_id, gate)
        gate.require("editor", job.org, job.repo, f"abort job {job_id}")
        if not set_state(session, job_id, "aborted", description=ABORT_DESCRIPTION):
            raise HTTPException(409, f"job {job_id} already finished ({job.state})")
        audit.record(session, gate.who, "job.abort", f"job {job_id}", name=job.name)
        session.refresh(job)
        detail = JobDetail.of(job, settings.reporter.dashboard_url)
    _changed(on_change)
    return detail


def _insert(
    spec: JobCreate,
    engine: Engine,
    writes: sessionmaker[Session],
    dashboard_url: str,
    on_change: Callback,
    who: Principal,
    *,
    rerun_of: int | None = None,
) -> JobDetail:
    with write_lock(engine), writes.begin() as session:
        job, _ = create_job(session, spec)
        if rerun_of is None:
            audit.record(session, who, "job.start", f"job {job.id}", name=job.name)
        else:
            audit.record(session, who, "job.rerun", f"job {job.id}", name=job.name, of=rerun_of)
        detail = JobDetail.of(job, dashboard_url)
    _changed(on_change)
    return detail


def _changed(on_change: Callback) -> None:
    if on_change is not None:
        try:
            on_change()
        except Exception:
            log.exception("api: on_change callback failed")


def _get(session: Session, job_id: int, gate: Gate) -> Job:
    """The job, once the caller may see it (404 without it, 401/403 when private)."""
    job = get_job(session, job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    gate.require("viewer", job.org, job.repo, f"see job {job_id}")
    return job
