"""Request bodies that arrive too slowly are answered 408, so no client holds a connection (and
the route's worker) forever by sending a body slowly or not at all.

`BodyTimeouts` is a pure ASGI middleware of every foredeck app (`hook.timeouts`): it wraps
`receive` until the body is complete. A chunk that does not come within `body_idle` seconds, or
a body not complete `body` seconds after the request's head arrived, raises `BodyTimeout`, an
`HTTPException(408)` with `Connection: close` that the route reading the body lets through (the
API's guarded routes) or answers itself (`POST /hook`). Once the body is complete, `receive` is
passed through untouched (a streaming response listens on it for the client going away).
"""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = {"Connection": "close"}


class BodyTimeout(HTTPException):
    """The request body did not arrive in time: 408, and the connection is closed."""

    def __init__(self, detail: str) -> None:
        super().__init__(408, detail, headers=CLOSE)


class BodyTimeouts:
    def __init__(self, app: ASGIApp, *, idle: float, total: float) -> None:
        self.app = app
        self.idle = idle
        self.total = total

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, _TimedReceive(receive, self.idle, self.total), send)


class _TimedReceive:
    """`receive` with the deadlines of one request's body."""

    __slots__ = ("_deadline", "_done", "_idle", "_loop", "_receive", "_total")

    def __init__(self, receive: Receive, idle: float, total: float) -> None:
        self._receive = receive
        self._idle = idle
        self._total = total
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + total
        self._done = False

    async def __call__(self) -> Message:
        if self._done:
            return await self._receive()
        left = self._deadline - self._loop.time()
        try:
            async with asyncio.timeout(min(self._idle, left)):
                message = await self._receive()
        except TimeoutError:
            self._done = True
            if left <= self._idle:
                raise BodyTimeout(f"request body not complete after {self._total:g} s") from None
            raise BodyTimeout(f"no request body data for {self._idle:g} s") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._done = True
        return message
