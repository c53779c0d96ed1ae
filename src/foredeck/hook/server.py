"""`POST /hook`: take a GitHub delivery, verify it, commit it to the event log, then answer.

The answer is sent only after the delivery is committed, so a 2xx always means "durable": if
the process dies right after, the worker finds the event at the next start. Checks run cheapest
first and nothing beyond `hook.body_limit` is ever read into memory. Status codes:

- 202 `{"duplicate": false, "id": N}`: logged; 200 `{"duplicate": true, "id": N}`: already logged
- 400 missing/invalid `X-GitHub-Event` or `X-GitHub-Delivery`, or a body that is not JSON (or
  is nested too deeply, or names two repositories)
- 401 no `X-Hub-Signature-256`; 403 signature does not verify
- 408 the body did not arrive in time (`hook.timeouts`: `body_idle`, `body`)
- 413 body over the limit; 415 content type other than JSON or GitHub's form encoding
- 503 the event log could not be written (GitHub shows the failure; redeliver it)
- 500 a bug: logged and counted in the metrics like every other answer
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from time import perf_counter
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from foredeck.db.eventlog import NewEvent
from foredeck.db.readiness import database_check
from foredeck.hook.metrics import HookMetrics
from foredeck.hook.writer import EventWriter
from foredeck.scm.github_types import PayloadError
from foredeck.scm.webhooks import (
    WebhookEnvelope,
    payload_json,
    secrets_for,
    valid_delivery_id,
    valid_event_name,
    verify_signature,
)
from foredeck.settings import HookSettings, Settings
from foredeck.web.allow import full_allow_header
from foredeck.web.body_timeouts import CLOSE, BodyTimeout, BodyTimeouts
from foredeck.web.probes import add_probes

if TYPE_CHECKING:
    from foredeck.hook.worker import EventWorker

log = logging.getLogger(__name__)

ACCEPTED_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
# Parsing and hashing bigger bodies would stall the event loop: do it in a thread.
_INLINE_BODY_BYTES = 256 * 1024


RETRY_AFTER_SECONDS = 5
"""What a 503 asks a sender to wait: GitHub redelivers by hand, a relay or proxy may read it."""


def _json(status: int, content: dict[str, Any]) -> Response:
    return Response(
        json.dumps(content, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
    )


def _logged(status: int, body: bytes) -> Response:
    """The answer to a logged delivery, built without a JSON encoder (the hot path)."""
    return Response(body, status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


router = APIRouter()


@router.post("/hook")
async def post_hook(request: Request) -> Response:
    """Every answer is counted, an unexpected error too: it would escape the metrics.

    What it needs is on `app.state` (`create_app`), read here rather than through `Depends`:
    this is the benchmarked hot path, and each dependency costs tens of microseconds."""
    state = request.app.state
    hook: HookSettings = state.settings.hook
    writer: EventWriter = state.writer
    metrics: HookMetrics = state.metrics
    start = perf_counter()
    try:
        response, event = await handle(request, hook, writer)
    except Exception:
        log.exception("unexpected error handling a delivery")
        response = _error(500, "internal error")
        event = request.headers.get("x-github-event")  # only known names become labels
    metrics.delivered(event, response.status_code, perf_counter() - start)
    return response


async def handle(
    request: Request, hook: HookSettings, writer: EventWriter
) -> tuple[Response, str | None]:
    """The answer to one delivery, and its event name when the headers gave a valid one."""
    headers = request.headers
    refused, label = _check_headers(headers, hook.body_limit)
    if refused is not None:
        return refused, label
    event = headers["x-github-event"]
    delivery_id = headers["x-github-delivery"]
    content_type = _content_type(headers)
    signature = headers["x-hub-signature-256"]
    raw = await _read_body(request, hook.body_limit)
    if isinstance(raw, Response):
        return raw, event

    def check() -> tuple[WebhookEnvelope, bytes] | Response:
        try:
            document = payload_json(raw, content_type)
            envelope = WebhookEnvelope.parse(event, delivery_id, document)
        except PayloadError as exc:
            return _error(400, str(exc))
        secrets = secrets_for(hook, envelope.org, envelope.repo)
        if not verify_signature(raw, signature, secrets):
            return _error(403, "signature does not match")
        return envelope, document

    checked = check() if len(raw) <= _INLINE_BODY_BYTES else await run_in_threadpool(check)
    if isinstance(checked, Response):
        return checked, event
    envelope, document = checked
    item = NewEvent(
        delivery_id=delivery_id,
        event=event,
        action=envelope.action,
        org=envelope.org,
        repo=envelope.repo,
        payload=document,
    )
    try:
        logged = await writer.log(item)
    except Exception:
        unavailable = _error(503, "event log unavailable; redeliver later")
        unavailable.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return unavailable, event
    if logged.duplicate:
        return _logged(200, b'{"duplicate":true,"id":%d}' % logged.id), event
    return _logged(202, b'{"duplicate":false,"id":%d}' % logged.id), event


def _content_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _check_headers(headers: Headers, body_limit: int) -> tuple[Response | None, str | None]:
    """(a refusal or None, the event name once it is known valid), cheapest checks first."""
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            return _error(400, "invalid Content-Length header"), None
        if int(length) > body_limit:
            return _error(413, f"body larger than {body_limit} bytes"), None
    event = headers.get("x-github-event")
    if not event:
        return _error(400, "missing X-GitHub-Event header"), None
    if not valid_event_name(event):
        return _error(400, "invalid X-GitHub-Event header"), None
    delivery_id = headers.get("x-github-delivery")
    if not delivery_id:
        return _error(400, "missing X-GitHub-Delivery header"), event
    if not valid_delivery_id(delivery_id):
        return _error(400, "invalid X-GitHub-Delivery header"), event
    if _content_type(headers) not in ACCEPTED_CONTENT_TYPES:
        return _error(415, "content type must be application/json"), event
    if not headers.get("x-hub-signature-256"):
        return _error(401, "missing X-Hub-Signature-256 header"), event
    return None, event


async def _read_body(request: Request, body_limit: int) -> bytes | Response:
    """The body, or 413 without reading past the limit, or 408 when it comes too slowly."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > body_limit:
                return _error(413, f"body larger than {body_limit} bytes")
            chunks.append(chunk)
    except BodyTimeout as exc:
        slow = _error(408, exc.detail)
        slow.headers.update(CLOSE)
        return slow
    return b"".join(chunks)  # one chunk: returned as is, no copy


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    worker: EventWorker | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """The hook app. With `worker`, the app starts and stops it and wakes it on each new event."""
    hook = settings.hook
    if not hook.has_any_secret():
        raise ValueError("no webhook secret configured (hook.secrets, org_secrets or repo_secrets)")
    registry = registry or CollectorRegistry()
    notify: Callable[[], None] | None = worker.notify if worker is not None else None
    writer = EventWriter(engine, on_commit=notify)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            await run_in_threadpool(writer.close)
            if worker is not None:
                await run_in_threadpool(worker.stop)

    app = FastAPI(title="foredeck hook", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(BodyTimeouts, idle=hook.timeouts.body_idle, total=hook.timeouts.body)
    app.state.settings = settings
    app.state.engine = engine
    app.state.writer = writer
    app.state.metrics = HookMetrics(registry)
    app.include_router(router)
    add_probes(app, database_check(engine), registry)
    full_allow_header(app)
    return app
