"""What every foredeck HTTP app serves besides its own routes: liveness, readiness, metrics.

- `GET /livez`: the process answers. No database: a liveness probe that fails only when the
  process hangs, so a database outage never makes Kubernetes restart healthy pods.
- `GET /readyz`: the app's readiness check (a short read of the database, see
  `foredeck.db.readiness`), given up after `READY_TIMEOUT` seconds. While a check hangs, later
  probes answer 503 at once instead of starting more threads.
- `GET /healthz`: `/readyz` under its old name (probes and scripts that use it keep working).
- `GET /metrics`: the app's Prometheus registry, for those `metrics.*` lets in (below).

One router for every app (the hook's and the service app without a hook); `add_probes` keeps
what it reads on `app.state` and includes it.

The probes are public: the kubelet calls them without credentials, and they say no more than
"up" or "the database is unreachable". `/metrics` says more (routes, plugins, lease types and
how busy each is), and the hook's port is usually reachable from the internet (GitHub must
reach `/hook`), so it is not: `metrics.public`, the metrics token (`metrics.token[_file]`, what
Prometheus sends) or the bootstrap `api.token` here; the service app adds a viewer of
everything signed in with a personal token (`access.gate.metrics_guard`, on
`app.state.metrics_guard`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from foredeck.settings import Settings
from foredeck.web.deps import Registry

log = logging.getLogger(__name__)

READY_TIMEOUT = 2.0
"""Seconds a readiness check waits for the database (below Kubernetes' 1-3 s probe timeouts)."""
OK = {"status": "ok"}

Check = Callable[[], object]
"""A blocking readiness check: it returns when ready and raises, with a one-line message, when
not."""


class Readiness:
    """The check behind `/readyz`: at most one at a time, each given up in time."""

    def __init__(self, check: Check, *, what: str = "database") -> None:
        self._check = check
        self._what = what
        self._running: asyncio.Future[object] | None = None

    async def problem(self) -> str | None:
        """None when the check passed in time, else what is wrong."""
        if self._running is not None and not self._running.done():
            return f"{self._what} check still running"
        check = self._running = asyncio.get_running_loop().run_in_executor(None, self._check)
        check.add_done_callback(_retrieve)  # an error after we gave up is not "never retrieved"
        try:
            await asyncio.wait_for(asyncio.shield(check), READY_TIMEOUT)
        except TimeoutError:
            log.warning("readiness: the %s did not answer within %gs", self._what, READY_TIMEOUT)
            return f"{self._what} check timed out"
        except Exception as exc:
            log.warning("readiness: %s unreachable: %s", self._what, exc)
            return f"{self._what} unreachable"
        return None


def _retrieve(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


async def readiness(request: Request) -> Readiness:
    """`app.state.readiness`, kept there by `add_probes`."""
    found: Readiness = request.app.state.readiness
    return found


router = APIRouter()


@router.get("/livez")
async def livez() -> Response:
    return JSONResponse(OK)


@router.get("/readyz")
async def readyz(ready: Annotated[Readiness, Depends(readiness)]) -> Response:
    problem = await ready.problem()
    return JSONResponse(OK) if problem is None else JSONResponse({"error": problem}, 503)


router.add_api_route("/healthz", readyz, methods=["GET"])


MetricsGuard = Callable[[Request], None]
"""Returns when the request may read `/metrics`; raises a 401 or 403 `HTTPException`."""
METRICS_REFUSED = (
    "/metrics needs a token: send `Authorization: Bearer <token>` with the metrics token "
    "(metrics.token or metrics.token_file; Prometheus: `authorization.credentials_file`)"
)


def metrics_by_token(request: Request) -> bool:
    """Whether `/metrics` is public or the request's bearer token is the metrics token or the
    bootstrap `api.token`."""
    settings: Settings = request.app.state.settings
    if settings.metrics.public:
        return True
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        return False
    expected = [settings.metrics.expected_token()]
    if settings.api.token is not None:
        expected.append(settings.api.token.get_secret_value())
    given = sent.strip().encode()
    return any(e and hmac.compare_digest(given, e.encode()) for e in expected)


def metrics_token_guard(request: Request) -> None:
    """The guard of an app without roles (the hook's own): the token or nothing."""
    if not metrics_by_token(request):
        raise HTTPException(401, METRICS_REFUSED, headers={"WWW-Authenticate": "Bearer"})


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus_metrics(request: Request, registry: Registry) -> Response:
    """Sync: a guard may look a personal token up in the database (FastAPI runs this in its
    thread pool)."""
    guard: MetricsGuard = getattr(request.app.state, "metrics_guard", metrics_token_guard)
    guard(request)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def add_probes(app: FastAPI, check: Check, registry: CollectorRegistry) -> None:
    """Serve `/livez`, `/readyz`, `/healthz` and `/metrics` (of `registry`) from `app`."""
    app.state.readiness = Readiness(check)
    app.state.registry = registry
    app.include_router(router)
