"""Every answer of the service app, counted by route template, method and status.

A pure ASGI middleware, so that answers made outside the routes are counted too: 404s of
unknown paths, 405s, and 500s of unexpected exceptions (which propagate through it to the
server's error handler). Labels are bounded whatever the requests: the route's template, never
the path (`unmatched` when no route matched), and `other` for unknown methods. `/hook` has its
own metrics (`hook/metrics.py`) and a benchmarked hot path: it passes through untouched.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SKIPPED_PATHS = frozenset({"/hook"})
UNMATCHED = "unmatched"


class ResponseMetrics:
    """Counts responses in `foredeck_http_responses_total{route, method, status}`."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.responses = Counter(
            "foredeck_http_responses",
            "HTTP responses of the API and dashboard by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self._children: dict[tuple[str, str, int], Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in SKIPPED_PATHS:
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers when an exception gets through before a start

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self._count(scope, status)

    def _count(self, scope: Scope, status: int) -> None:
        route = getattr(scope.get("route"), "path_format", None) or UNMATCHED
        method = scope["method"] if scope["method"] in METHODS else "other"
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.responses.labels(route, method, str(status))
        child.inc()
