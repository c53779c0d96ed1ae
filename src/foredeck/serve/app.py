"""The HTTP side of `foredeck serve`: the hook app with the `/api` router and the components
that run beside it.

The hook's `create_app` needs a webhook secret. A setup that receives no webhooks (the `local`
SCM provider, or an API-only process) has none, so without a secret this builds an app of its
own with the probes (`web/probes.py`) and `/api` and no `/hook`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from foredeck import api, dashboard
from foredeck.access import gate as access_gate
from foredeck.api import deps as api_deps
from foredeck.config import ConfigAgent
from foredeck.dashboard import deps as dashboard_deps
from foredeck.db.engine import read_only, session_factory
from foredeck.db.readiness import database_check
from foredeck.hook.server import create_app
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import Settings
from foredeck.storage.store import ArtifactStore, lazy_store
from foredeck.web.allow import full_allow_header
from foredeck.web.body_timeouts import BodyTimeouts
from foredeck.web.metrics import ResponseMetrics
from foredeck.web.probes import add_probes

if TYPE_CHECKING:
    from foredeck.hook.worker import EventWorker

log = logging.getLogger(__name__)


class Component(Protocol):
    """What `foredeck serve` runs: the event worker's shape."""

    def start(self) -> Any: ...

    def stop(self, timeout: float = 30.0) -> None: ...


def create_service_app(
    settings: Settings,
    engine: Engine,
    *,
    worker: EventWorker | None = None,
    registry: CollectorRegistry | None = None,
    central: ConfigAgent | None = None,
    store: ArtifactStore | None = None,
    on_change: Callable[[], None] | None = None,
    components: Sequence[Component] = (),
) -> FastAPI:
    """Hook + API + dashboard in one app. `components` start (in order) after the hook's worker
    once the server is up, and stop in reverse order before it, when the server shuts down.

    `central` defaults to `settings.config_path` (loaded now: a broken config fails at start);
    `store` to `settings.artifacts.url` (opened on first use); `on_change` is called after the
    API created or aborted jobs."""
    registry = registry or CollectorRegistry()
    if settings.hook.has_any_secret():
        app = create_app(settings, engine, worker=worker, registry=registry)
    else:
        log.warning("no webhook secret configured: serving without /hook")
        app = _app_without_hook(settings, engine, worker, registry)
    app.title = "foredeck"
    share_state(app, settings, engine, store=store)
    api_deps.attach_state(
        app,
        settings,
        central=central,
        on_change=on_change,
        on_event=worker.notify if worker is not None else None,
    )
    dashboard_deps.attach_state(app, settings)
    app.include_router(api.router)
    # The pages; also `/jobs/{id}` (commit statuses link there) redirecting to `/view/{id}`.
    app.include_router(dashboard.router)
    # Counts every answer but the hook's (which has metrics of its own), 500s included.
    app.add_middleware(ResponseMetrics, registry=registry)

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with inner(app_):
            started: list[Component] = []
            try:
                for component in components:
                    await run_in_threadpool(component.start)
                    started.append(component)
                yield
            finally:
                for component in reversed(started):
                    try:
                        await run_in_threadpool(component.stop)
                    except Exception:
                        log.exception("stopping %r failed", component)

    app.router.lifespan_context = lifespan
    return app


def share_state(
    app: FastAPI, settings: Settings, engine: Engine, *, store: ArtifactStore | None = None
) -> None:
    """Keep on `app.state` what several components read (`foredeck.web.deps`): one session
    factory of each kind, one artifact store (opened on first use) and one SCM provider."""
    app.state.settings = settings
    app.state.engine = engine
    app.state.reads = session_factory(read_only(engine))
    app.state.writes = session_factory(engine)
    app.state.artifact_store = lazy_store(settings.artifacts.url, store)
    app.state.scm = provider_from_settings(settings, engine)
    access_gate.attach_state(app, settings, engine)


def _app_without_hook(
    settings: Settings, engine: Engine, worker: EventWorker | None, registry: CollectorRegistry
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await run_in_threadpool(worker.stop)

    app = FastAPI(title="foredeck", lifespan=lifespan, docs_url=None, redoc_url=None)
    timeouts = settings.hook.timeouts
    app.add_middleware(BodyTimeouts, idle=timeouts.body_idle, total=timeouts.body)
    add_probes(app, database_check(engine), registry)
    full_allow_header(app)
    return app
