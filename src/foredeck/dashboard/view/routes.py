"""`/view/{id}`: the run page, its task pages, the raw log range and the artifact browser.

Reads only: the page never writes to the database (rerun and abort are `POST /api/...` calls
made by `view.js`). Routes are synchronous, so FastAPI runs them in its thread pool, where store
reads (local disk or S3/GCS) may block. Each starts from `load_run`: the job and its files in
the app's artifact store (`dashboard.deps`, `web.deps`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import RedirectResponse, Response, StreamingResponse

from foredeck.access.gate import Gate, RequestGate
from foredeck.bounds import JobId, Offset
from foredeck.dashboard.app import PageRoute, templates
from foredeck.dashboard.deps import Links, Matchers, Store
from foredeck.dashboard.links import WebLinks, format_duration, safe_href
from foredeck.dashboard.view.artifacts import (
    SNIFF_BYTES,
    BadPath,
    BuildFiles,
    RangeReader,
    build_files,
    content_headers,
    snapshot_cut,
    stream,
    task_log,
)
from foredeck.dashboard.view.graph import entry_seconds, task_entries
from foredeck.dashboard.view.lenses import LENSES, Lens, LensContext
from foredeck.dashboard.view.logs import (
    ErrorSearch,
    LogMatchers,
    RangeSource,
    error_anchor,
    lines_html,
    read_page,
)
from foredeck.dashboard.view.logs import (
    find_error as scan_for_error,
)
from foredeck.db import flakes
from foredeck.db.models import Job
from foredeck.leases.held import job_leases
from foredeck.storage.prow import BUILD_LOG, PIPELINE_RUN
from foredeck.storage.store import ArtifactStore
from foredeck.storage.tasklog import IndexedLog
from foredeck.web.deps import AppSettings, Reads

log = logging.getLogger(__name__)

UNFINISHED = ("triggered", "pending")


def pipeline_ui_url(job: Job, run: Any) -> tuple[str, str] | None:
    """(label, link) to the Argo/Tekton UI of a remote run, or None.

    The rule until remote executors settle on one: `pipeline-run.json`'s `uiUrl` (labelled
    with its `engine`, e.g. "Argo"), else the job row's `url` when it is an http(s) link (a
    local run's `url` is its `file://` build directory and is not shown).
    """
    if isinstance(run, dict):
        link = safe_href(run.get("uiUrl") if isinstance(run.get("uiUrl"), str) else None)
        if link:
            engine = run.get("engine")
            label = f"Open in {engine} UI" if isinstance(engine, str) and engine else "Open run UI"
            return label[:60], link
    link = safe_href(job.url)
    return ("Open run details", link) if link else None


router = APIRouter(route_class=PageRoute)


@dataclass(frozen=True)
class Run:
    """A job and its build files, as every route of the run page starts."""

    job: Job
    files: BuildFiles | None


def load_run(
    job_id: int,
    reads: sessionmaker[Session],
    store: Callable[[], ArtifactStore | None],
    gate: Gate,
) -> Run:
    """The job (404 without it, 401/403 when the caller may not see it) and its files, as every
    route starts (after FastAPI validated all the parameters: a malformed one is a 400 whether
    the job exists or not)."""
    with reads() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        gate.require("viewer", job.org, job.repo, f"see job {job_id}")
        session.expunge(job)
    return Run(job, build_files(job, store()))


def top_names(files: BuildFiles | None) -> set[str]:
    if files is None:
        return set()
    try:
        return {entry.path for entry in files.list("")}
    except (OSError, ValueError) as exc:
        log.warning("cannot list %s: %s", files.prefix, exc)
        return set()


def live_note(files: BuildFiles | None, names: set[str], interval: float) -> str | None:
    """Where a running job's files come from, for the run page (`interval`: the controller's
    `live_publish_interval`)."""
    if files is None or not files.live:
        return None
    if files.source == "workspace":
        return "The run is in progress: files are read from its workspace."
    if interval <= 0:
        return (
            "The run is in progress. Its workspace is not on this machine and live snapshots "
            "are off (controller.live_publish_interval is 0): files appear when it ends."
        )
    note = (
        "The run is in progress: files are a live snapshot from the artifact store, "
        f"updated every {interval:g} s"
    )
    return note + ("." if names else " (none has arrived yet).")


REFRESH_SECONDS = 3
"""How often the page of a running job fetches itself again (`view.js`)."""


def refresh_seconds(job: Job, files: BuildFiles | None, interval: float) -> int | None:
    """How often the page of an unfinished run refreshes itself, None once it has ended: every
    few seconds, or as often as live snapshots arrive when its files come from them."""
    if job.state not in UNFINISHED:
        return None
    if files is not None and files.live and files.source != "workspace" and interval > 0:
        return max(REFRESH_SECONDS, math.ceil(interval))
    return REFRESH_SECONDS


@dataclass(frozen=True)
class TaskRun:
    job: Job
    files: BuildFiles
    entry: dict[str, Any]
    """The task's entry in `pipeline-run.json`."""


def load_task(job_id: int, task: str, run: Run, matchers: LogMatchers, web: WebLinks) -> TaskRun:
    """The job, its files and the task's entry in `pipeline-run.json`; 404 without them."""
    ctx = LensContext(run.job, run.files, top_names(run.files), matchers.lines, web)
    found = ctx.json(PIPELINE_RUN)
    entry = task_entries(found).get(task) if isinstance(found, dict) else None
    if run.files is None or entry is None:
        raise HTTPException(404, f"run {job_id} has no task {task!r}")
    return TaskRun(run.job, run.files, entry)


def search_errors(
    source: RangeSource, base: str, begin: int, matchers: LogMatchers
) -> Response | ErrorSearch:
    """A redirect to the page of the first error line from `begin`, or the failed search."""
    found = scan_for_error(source, matchers.lines, matchers.chunks, begin)
    if found.offset is None:
        return found
    page_start, anchor = error_anchor(source, found.offset)
    return RedirectResponse(f"{base}?start={page_start}#{anchor}", status_code=303)


@router.get("/view/{job_id}", include_in_schema=False)
def view_page(
    request: Request,
    job_id: JobId,
    reads: Reads,
    gate: RequestGate,
    store: Store,
    matchers: Matchers,
    web: Links,
    settings: AppSettings,
    start: Offset | None = None,
    end: Offset | None = None,
    find_error: Offset | None = None,
) -> Response:
    run = load_run(job_id, reads, store, gate)
    job, files = run.job, run.files
    matchers = matchers.for_job(job.name)
    ctx = LensContext(job, files, top_names(files), matchers.lines, web, start, end)
    if find_error is not None and files is not None and ctx.has(BUILD_LOG):
        reader = RangeReader(files, BUILD_LOG)
        found = search_errors(reader, f"/view/{job_id}", find_error, matchers)
        if isinstance(found, Response):
            return found
        ctx.search = found
    interval = settings.controller.live_publish_interval
    with reads() as session:
        leases = job_leases(session, job_id, settings.leases.prices)
        verdict = flakes.of_run(session, job_id)
    return templates.TemplateResponse(
        request,
        "view/run.html",
        {
            "job": job,
            "lenses": _lenses(ctx),
            "unfinished": job.state in UNFINISHED,
            "refresh_seconds": refresh_seconds(job, files, interval),
            "may_edit": gate.may("editor", job.org, job.repo),
            "pipeline_ui": pipeline_ui_url(job, ctx.json(PIPELINE_RUN)),
            "live": files.live if files else False,
            "live_note": live_note(files, ctx.top, interval),
            "live_cut": snapshot_cut(files) if files and ctx.has(BUILD_LOG) else None,
            "lines_html": lines_html,
            "leases": leases,
            "flakes": verdict,
            "format_duration": format_duration,
        },
    )


def _lenses(ctx: LensContext) -> list[Lens]:
    lenses: list[Lens] = []
    for build in LENSES:
        try:
            lens = build(ctx)
        except (OSError, ValueError) as exc:
            log.warning("job %s: lens %s failed: %s", ctx.job.id, build.__module__, exc)
            continue
        if lens is not None:
            lenses.append(lens)
    return lenses


@router.get("/view/{job_id}/log", include_in_schema=False)
def raw_log(
    job_id: JobId,
    reads: Reads,
    gate: RequestGate,
    store: Store,
    start: Offset | None = None,
    end: Offset | None = None,
) -> Response:
    """`build-log.txt` bytes `[start, end)`, streamed in chunks (any size, bounded memory)."""
    files = load_run(job_id, reads, store, gate).files
    if files is None or not files.exists(BUILD_LOG):
        raise HTTPException(404, "this run has no build log")
    try:
        return _range_response(RangeReader(files, BUILD_LOG), files.live, start, end)
    except (OSError, ValueError) as exc:
        # The error names the file: logged, never shown (paths are the server's business).
        log.warning("job %s: the build log cannot be read: %s", job_id, exc)
        raise HTTPException(404, "the build log cannot be read") from None


@router.get("/view/{job_id}/task/{task}", include_in_schema=False)
def task_page(
    request: Request,
    job_id: JobId,
    task: str,
    reads: Reads,
    gate: RequestGate,
    store: Store,
    matchers: Matchers,
    web: Links,
    start: Offset | None = None,
    end: Offset | None = None,
    find_error: Offset | None = None,
) -> Response:
    loaded = load_task(job_id, task, load_run(job_id, reads, store, gate), matchers, web)
    matchers = matchers.for_job(loaded.job.name)
    entry = loaded.entry
    page = None
    search = None
    source = entry_log(loaded.files, entry)
    if source is not None:
        if find_error is not None:
            base = f"/view/{job_id}/task/{quote(task, safe='')}"
            found = search_errors(source, base, find_error, matchers)
            if isinstance(found, Response):
                return found
            search = found
        page = read_page(source, matchers.lines, start=start, end=end)
    artifacts = entry.get("artifacts")
    parent = entry.get("pipelineTask") if entry.get("pipelineTask") != task else None
    return templates.TemplateResponse(
        request,
        "view/task.html",
        {
            "job": loaded.job,
            "task": task,
            "entry": entry,
            "page": page,
            "search": search,
            "artifacts": artifacts if isinstance(artifacts, str) else None,
            "parent": parent if isinstance(parent, str) else None,
            "duration": format_duration(entry_seconds(entry)),
            "lines_html": lines_html,
            "task_href": lambda name: f"/view/{job_id}/task/{quote(str(name), safe='')}",
        },
    )


@router.get("/view/{job_id}/task/{task}/log", include_in_schema=False)
def raw_task_log(
    job_id: JobId,
    task: str,
    reads: Reads,
    gate: RequestGate,
    store: Store,
    matchers: Matchers,
    web: Links,
    start: Offset | None = None,
    end: Offset | None = None,
) -> Response:
    """A task's log bytes `[start, end)`, streamed like the build log's."""
    loaded = load_task(job_id, task, load_run(job_id, reads, store, gate), matchers, web)
    source = entry_log(loaded.files, loaded.entry)
    if source is None:
        raise HTTPException(404, f"run {job_id} has no log of task {task!r}")
    try:
        return _range_response(source, loaded.files.live, start, end)
    except (OSError, ValueError) as exc:
        log.warning("job %s: the log of task %r cannot be read: %s", job_id, task, exc)
        raise HTTPException(404, "the task's log cannot be read") from None


@router.get("/view/{job_id}/artifacts", include_in_schema=False)
def artifacts_root(
    request: Request, job_id: JobId, reads: Reads, store: Store, gate: RequestGate
) -> Response:
    return browse(request, job_id, load_run(job_id, reads, store, gate), "")


@router.get("/view/{job_id}/artifacts/{path:path}", include_in_schema=False)
def artifacts_path(
    request: Request,
    job_id: JobId,
    path: str,
    reads: Reads,
    gate: RequestGate,
    store: Store,
    start: Offset | None = None,
    end: Offset | None = None,
) -> Response:
    return browse(request, job_id, load_run(job_id, reads, store, gate), path, start, end)


def browse(
    request: Request,
    job_id: int,
    run: Run,
    path: str,
    start: int | None = None,
    end: int | None = None,
) -> Response:
    files = run.files
    if files is None:
        raise HTTPException(404, "this run has no artifacts")
    rel = path.rstrip("/")
    try:
        files.path(rel)
    except BadPath as exc:
        raise HTTPException(400, f"invalid artifact path: {exc}") from None
    try:
        if rel and files.exists(rel):
            return _range_response(RangeReader(files, rel), files.live, start, end, rel)
        entries = files.list(rel)
    except (OSError, ValueError) as exc:
        # A symlink planted in a live workspace resolves outside it (the store refuses it),
        # or the file went away between the listing and the read.
        log.info("job %s: artifact %r not served: %s", job_id, rel, exc)
        raise HTTPException(404, f"no artifact {rel!r}") from None
    if rel and not entries:
        raise HTTPException(404, f"no artifact {rel!r}")
    crumbs: list[tuple[str, str]] = []
    walked: list[str] = []
    for part in rel.split("/") if rel else []:
        walked.append(part)
        crumbs.append((part, "/".join(walked)))
    return templates.TemplateResponse(
        request,
        "view/artifacts.html",
        {"job": run.job, "path": rel, "entries": entries, "crumbs": crumbs, "quote": quote},
    )


def entry_log(files: BuildFiles, entry: dict[str, Any]) -> RangeReader | IndexedLog | None:
    """The log of a task entry of `pipeline-run.json`, None if it has none (or a bad path)."""
    rel = entry.get("log")
    if not isinstance(rel, str) or not rel:
        return None
    try:
        return task_log(files, rel)
    except (OSError, ValueError) as exc:  # a bad path (BadPath), an unreadable or broken index
        log.warning("task log %r of %s not read: %s", rel, files.prefix, exc)
        return None


def _range_response(
    source: RangeReader | IndexedLog,
    live: bool,
    start: int | None,
    end: int | None,
    download: str | None = None,
) -> Response:
    """Bytes `[start, end)` of `source`; a log (text), or with `download` the file of that
    name (its type sniffed)."""
    size = source.size()
    begin = min(start or 0, size)
    stop = size if end is None else max(begin, min(end, size))
    if download is not None:
        head = source.read_range(0, min(SNIFF_BYTES, size))
        media_type, headers = content_headers(download, head)
    else:
        media_type, headers = content_headers(BUILD_LOG, b"")
    headers["Content-Length"] = str(stop - begin)
    headers["X-Log-Size"] = str(size)
    headers["Cache-Control"] = "no-store" if live else "private, max-age=60"
    return StreamingResponse(stream(source, begin, stop), media_type=media_type, headers=headers)
