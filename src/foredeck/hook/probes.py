"""What every foredeck HTTP app serves besides its own routes: liveness, readiness, metrics.

- `GET /livez`: the process answers. No database: a liveness probe that fails only when the
  process hangs, so a database outage never makes Kubernetes restart healthy pods.
- `GET /readyz`: a short read of the database (`read_only`: on SQLite it never queues behind a
  writer, not even one in another process), given up after `READY_TIMEOUT` seconds. While a
  check hangs, later probes answer 503 at once instead of starting more threads.
- `GET /healthz`: `/readyz` under its old name (probes and scripts that use it keep working).
- `GET /metrics`: the app's Prometheus registry.

One implementation for the hook's app and the service app without a hook (`serve/app.py`).
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine, column, select, table

from foredeck.db.engine import error_line, read_only
from foredeck.db.migrate import VERSION_TABLE

log = logging.getLogger(__name__)

READY_TIMEOUT = 2.0
"""Seconds a readiness check waits for the database (below Kubernetes' 1-3 s probe timeouts)."""
OK = {"status": "ok"}


class Readiness:
    """The database check behind `/readyz`: at most one at a time, each given up in time."""

    def __init__(self, engine: Engine) -> None:
        self._engine = read_only(engine)
        self._running: asyncio.Future[None] | None = None

    async def problem(self) -> str | None:
        """None when the database answered a read in time, else what is wrong."""
        if self._running is not None and not self._running.done():
            return "database check still running"
        check = self._running = asyncio.get_running_loop().run_in_executor(None, self._read)
        check.add_done_callback(_retrieve)  # an error after we gave up is not "never retrieved"
        try:
            await asyncio.wait_for(asyncio.shield(check), READY_TIMEOUT)
        except TimeoutError:
            log.warning("readiness: the database did not answer within %gs", READY_TIMEOUT)
            return "database check timed out"
        except Exception as exc:
            log.warning("readiness: database unreachable: %s", error_line(exc))
            return "database unreachable"
        return None

    def _read(self) -> None:
        with self._engine.connect() as conn:
            conn.execute(select(column("version_num")).select_from(table(VERSION_TABLE))).first()


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def add_probes(app: FastAPI, engine: Engine, registry: CollectorRegistry) -> None:
    """Add `/livez`, `/readyz`, `/healthz` and `/metrics` to `app`."""
    readiness = Readiness(engine)

    @app.get("/livez")
    async def livez() -> Response:
        return JSONResponse(OK)

    @app.get("/readyz")
    async def readyz() -> Response:
        problem = await readiness.problem()
        return JSONResponse(OK) if problem is None else JSONResponse({"error": problem}, 503)

    app.add_api_route("/healthz", readyz, methods=["GET"])

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
