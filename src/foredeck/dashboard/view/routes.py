"""`/view/{id}`: the run page, its task pages, the raw log range and the artifact browser.

Reads only: the page never writes to the database (rerun and abort are `POST /api/...` calls
made by `view.js`). Routes are synchronous, so FastAPI runs them in its thread pool, where store
reads (local disk or S3/GCS) may block.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import RedirectResponse, Response, StreamingResponse

from foredeck.bounds import JobId, Offset
from foredeck.dashboard.app import error_page, make_templates, templates
from foredeck.dashboard.links import safe_href
from foredeck.dashboard.security import secure_route_class
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
from foredeck.dashboard.view.graph import entry_seconds, format_duration, task_entries
from foredeck.dashboard.view.lenses import LENSES, Lens, LensContext
from foredeck.dashboard.view.logs import (
    ErrorSearch,
    RangeSource,
    compile_patterns,
    error_anchor,
    error_patterns,
    lines_html,
    read_page,
)
from foredeck.dashboard.view.logs import (
    find_error as scan_for_error,
)
from foredeck.db.engine import read_only, session_factory
from foredeck.db.models import Job
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import Settings
from foredeck.storage.prow import BUILD_LOG, PIPELINE_RUN
from foredeck.storage.store import ArtifactStore, lazy_store
from foredeck.storage.tasklog import IndexedLog

log = logging.getLogger(__name__)

UNFINISHED = ("triggered", "pending")


def pipeline_ui_url(job: Job, run: Any) -> tuple[str, str] | None:
    """(label, link) to the Argo/Tekton UI of a remote run, or None.

    The rule until remote executors (#6) settle on one: `pipeline-run.json`'s `uiUrl` (labelled
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


def view_router(
    settings: Settings,
    engine: Engine,
    *,
    store: ArtifactStore | None = None,
    templates_dir: Path | None = None,
) -> APIRouter:
    """The run page's routes. `store` defaults to `settings.artifacts.url` (opened on first use)."""
    tmpl: Jinja2Templates = templates if templates_dir is None else make_templates(templates_dir)
    router = APIRouter(route_class=secure_route_class(error_page(tmpl)))
    reads: sessionmaker[Session] = session_factory(read_only(engine))
    patterns = error_patterns(settings.plugin_config)
    matchers = compile_patterns(patterns)
    chunk_matchers = compile_patterns(patterns, multiline=True)

    artifact_store = lazy_store(settings.artifacts.url, store)
    web = provider_from_settings(settings).links

    def load(job_id: JobId) -> tuple[Job, BuildFiles | None]:
        with reads() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise HTTPException(404, f"no job {job_id}")
            session.expunge(job)
        return job, build_files(job, artifact_store())

    def top_names(files: BuildFiles | None) -> set[str]:
        if files is None:
            return set()
        try:
            return {entry.path for entry in files.list("")}
        except (OSError, ValueError) as exc:
            log.warning("cannot list %s: %s", files.prefix, exc)
            return set()

    def live_note(files: BuildFiles | None, names: set[str]) -> str | None:
        """Where a running job's files come from, for the run page."""
        if files is None or not files.live:
            return None
        if files.source == "workspace":
            return "The run is in progress: files are read from its workspace."
        interval = settings.controller.live_publish_interval
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

    def load_task(job_id: JobId, task: str) -> tuple[Job, BuildFiles, dict[str, Any]]:
        """The job, its files and the task's entry in `pipeline-run.json`; 404 without them."""
        job, files = load(job_id)
        run = LensContext(job, files, top_names(files), matchers, web).json(PIPELINE_RUN)
        entry = task_entries(run).get(task) if isinstance(run, dict) else None
        if files is None or entry is None:
            raise HTTPException(404, f"run {job_id} has no task {task!r}")
        return job, files, entry

    def search_errors(source: RangeSource, base: str, begin: int) -> Response | ErrorSearch:
        """A redirect to the page of the first error line from `begin`, or the failed search."""
        found = scan_for_error(source, matchers, chunk_matchers, begin)
        if found.offset is None:
            return found
        page_start, anchor = error_anchor(source, found.offset)
        return RedirectResponse(f"{base}?start={page_start}#{anchor}", status_code=303)

    @router.get("/view/{job_id}", include_in_schema=False)
    def view_page(
        request: Request,
        job_id: JobId,
        start: Offset | None = None,
        end: Offset | None = None,
        find_error: Offset | None = None,
    ) -> Response:
        job, files = load(job_id)
        ctx = LensContext(job, files, top_names(files), matchers, web, start, end)
        if find_error is not None and files is not None and ctx.has(BUILD_LOG):
            found = search_errors(RangeReader(files, BUILD_LOG), f"/view/{job_id}", find_error)
            if isinstance(found, Response):
                return found
            ctx.search = found
        lenses: list[Lens] = []
        for build in LENSES:
            try:
                lens = build(ctx)
            except (OSError, ValueError) as exc:
                log.warning("job %s: lens %s failed: %s", job_id, build.__module__, exc)
                continue
            if lens is not None:
                lenses.append(lens)
        return tmpl.TemplateResponse(
            request,
            "view/run.html",
            {
                "job": job,
                "lenses": lenses,
                "unfinished": job.state in UNFINISHED,
                "pipeline_ui": pipeline_ui_url(job, ctx.json(PIPELINE_RUN)),
                "live": files.live if files else False,
                "live_note": live_note(files, ctx.top),
                "live_cut": snapshot_cut(files) if files and ctx.has(BUILD_LOG) else None,
                "lines_html": lines_html,
            },
        )

    @router.get("/view/{job_id}/log", include_in_schema=False)
    def raw_log(job_id: JobId, start: Offset | None = None, end: Offset | None = None) -> Response:
        """`build-log.txt` bytes `[start, end)`, streamed in chunks (any size, bounded memory)."""
        _job, files = load(job_id)
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
        start: Offset | None = None,
        end: Offset | None = None,
        find_error: Offset | None = None,
    ) -> Response:
        job, files, entry = load_task(job_id, task)
        page = None
        search = None
        source = entry_log(files, entry)
        if source is not None:
            if find_error is not None:
                base = f"/view/{job_id}/task/{quote(task, safe='')}"
                found = search_errors(source, base, find_error)
                if isinstance(found, Response):
                    return found
                search = found
            page = read_page(source, matchers, start=start, end=end)
        artifacts = entry.get("artifacts")
        parent = entry.get("pipelineTask") if entry.get("pipelineTask") != task else None
        return tmpl.TemplateResponse(
            request,
            "view/task.html",
            {
                "job": job,
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
        job_id: JobId, task: str, start: Offset | None = None, end: Offset | None = None
    ) -> Response:
        """A task's log bytes `[start, end)`, streamed like the build log's."""
        _job, files, entry = load_task(job_id, task)
        source = entry_log(files, entry)
        if source is None:
            raise HTTPException(404, f"run {job_id} has no log of task {task!r}")
        try:
            return _range_response(source, files.live, start, end)
        except (OSError, ValueError) as exc:
            log.warning("job %s: the log of task %r cannot be read: %s", job_id, task, exc)
            raise HTTPException(404, "the task's log cannot be read") from None

    @router.get("/view/{job_id}/artifacts", include_in_schema=False)
    def artifacts_root(request: Request, job_id: JobId) -> Response:
        return browse(request, job_id, "")

    @router.get("/view/{job_id}/artifacts/{path:path}", include_in_schema=False)
    def artifacts_path(
        request: Request,
        job_id: JobId,
        path: str,
        start: Offset | None = None,
        end: Offset | None = None,
    ) -> Response:
        return browse(request, job_id, path, start, end)

    def browse(
        request: Request, job_id: JobId, path: str, start: int | None = None, end: int | None = None
    ) -> Response:
        job, files = load(job_id)
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
        return tmpl.TemplateResponse(
            request,
            "view/artifacts.html",
            {"job": job, "path": rel, "entries": entries, "crumbs": crumbs, "quote": quote},
        )

    return router


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
