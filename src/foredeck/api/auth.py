"""Bearer-token check for mutating API calls, and a cap on request bodies.

Reads are open (like Prow's deck); anything that creates or stops a job needs the token when
`api.token` is set. The comparison is constant-time so that response timing leaks nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.types import Message

MAX_BODY_BYTES = 512 * 1024
"""Enough for a 64 KiB comment even when JSON escapes every character."""

bearer = HTTPBearer(auto_error=False, description="`api.token`, needed by mutating calls")


def token_checker(
    token: SecretStr | None,
) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    """A dependency that raises 401 unless the request carries `token` (no-op without one)."""
    expected = token.get_secret_value().encode() if token is not None else None

    def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if expected is None:
            return
        given = credentials.credentials.encode() if credentials is not None else b""
        if credentials is None or not hmac.compare_digest(given, expected):
            raise HTTPException(
                401, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"}
            )

    return check


class LimitedBodyRoute(APIRoute):
    """A route that refuses bodies over `MAX_BODY_BYTES` before anything parses them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if request.method in ("GET", "HEAD"):
                return await original(request)
            length = request.headers.get("content-length")
            if length is not None and not length.isdigit():
                return JSONResponse({"detail": "invalid Content-Length header"}, 400)
            if length is not None and int(length) > MAX_BODY_BYTES:
                return _too_large()
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return _too_large()
            return await original(_replay(request, bytes(body)))

        return handler


def _too_large() -> Response:
    return JSONResponse({"detail": f"request body larger than {MAX_BODY_BYTES} bytes"}, 413)


def _replay(request: Request, body: bytes) -> Request:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)
