"""One process that serves the hook and runs the event worker (`python -m foredeck.hook`)."""

from __future__ import annotations

import gc
import logging
import sys

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from foredeck.db.migrate import open_database
from foredeck.hook.plugins import load_plugins
from foredeck.hook.server import create_app
from foredeck.hook.worker import Worker
from foredeck.settings import Settings
from foredeck.web.server import listen, run_http

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.0005


def build_service(settings: Settings) -> FastAPI:
    """Migrate the database, load the plugins, and build the app that also runs the worker.

    Raises `DatabaseUnavailable` (one line) when the database cannot be opened or migrated.
    """
    engine = open_database(settings.database_url)
    try:
        registry = CollectorRegistry()
        worker = None
        if settings.worker.enabled:
            plugins = load_plugins(settings)
            worker = Worker.from_settings(settings, engine, plugins, registry=registry)
        return create_app(settings, engine, worker=worker, registry=registry)
    except BaseException:
        engine.dispose()
        raise


def serve(
    settings: Settings, *, host: str | None = None, port: int | None = None, log_level: str = "info"
) -> None:
    """Serve until SIGINT/SIGTERM; the worker stops after its current event.

    The port is bound first: a busy one raises `ListenError` before the database is touched.
    """
    # The event loop, the log writer and the worker are threads of one process: with Python's
    # default 5 ms GIL switch interval, a writer returning from a commit waits up to 5 ms for the
    # GIL behind a busy event loop, which caps throughput and inflates latency (measured: -35%).
    sys.setswitchinterval(SWITCH_INTERVAL)
    with listen(host or settings.hook.host, settings.hook.port if port is None else port) as sock:
        app = build_service(settings)
        gc.freeze()  # the app lives as long as the process: see foredeck.serve.run
        run_http(app, sock, settings.hook.timeouts, log_level=log_level)
