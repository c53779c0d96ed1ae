"""A 405 answer names every method its path allows (RFC 9110, 15.5.6), not only the first
route's.

FastAPI declares `GET /api/jobs` and `POST /api/jobs` as two routes; Starlette answers a method
neither takes with the `Allow` header of the first route whose path matched (`Allow: GET`), which
tells a client that POST is not allowed either. This handler of Starlette's 405 puts the union
of the methods of every route of that path in `Allow`, and answers as FastAPI's default handler
does otherwise.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods some route of `app` takes at the request's path: each asked of the routes
    (`BaseRoute.matches`, which included routers answer too)."""
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in app.router.routes
        )
    ]


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405 and isinstance(request.app, FastAPI):
        methods = allowed_methods(request.app, request)
        if methods:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
    return await http_exception_handler(request, exc)


def full_allow_header(app: FastAPI) -> None:
    """Answer 405s of `app` with the whole `Allow` header."""
    app.add_exception_handler(HTTPException, _method_not_allowed)
