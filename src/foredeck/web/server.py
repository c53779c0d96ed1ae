"""The HTTP server of `foredeck serve` and `python -m foredeck.hook`: uvicorn on a socket that
was bound before anything else started.

The socket is bound (and listening) first, before the database is touched and before any
component starts: a second server on a busy port then fails at once, without claiming jobs it
could not serve. uvicorn gets the socket (`Server.run(sockets=[...])`) with timeouts that stop
idle or slow clients from holding connections (`hook.timeouts`):

- `keep_alive`: an idle connection between requests is closed (uvicorn's own timeout);
- `head`: a request line and headers must arrive within this many seconds of the connection
  (or of the previous response); uvicorn has no such timeout, so the h11 protocol gets one here;
- `body_idle` / `body`: `foredeck.web.body_timeouts.BodyTimeouts` in the apps (answered 408).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from foredeck.settings import HttpTimeouts

BACKLOG = 2048  # uvicorn's default
GRACEFUL_HTTP_SECONDS = 10
"""After SIGINT/SIGTERM, requests in flight get this long to finish."""


class ListenError(OSError):
    """The listening socket cannot be made (port in use, unknown host, no permission)."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port`; raises `ListenError` with a one-line reason.

    The socket is made with protocol `IPPROTO_TCP`, as uvicorn's own is: asyncio turns Nagle's
    algorithm off (`TCP_NODELAY`) only on connections whose socket says so, and a connection
    with Nagle on waits ~40 ms for the client's delayed ACK before the end of each answer (the
    hook fell from ~2,200 to ~650 deliveries/s with `socket.create_server`'s protocol 0).
    """
    sock: socket.socket | None = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        return sock
    except OSError as exc:
        if sock is not None:
            sock.close()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None


def run_http(app: FastAPI, sock: socket.socket, timeouts: HttpTimeouts, *, log_level: str) -> None:
    """Serve `app` on `sock` until SIGINT/SIGTERM (uvicorn's handling, graceful for 10 s)."""
    uvicorn.Server(server_config(app, timeouts, log_level=log_level)).run(sockets=[sock])


def server_config(app: FastAPI, timeouts: HttpTimeouts, *, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=_head_timeout_protocol(timeouts.head),
        ws="none",  # foredeck serves no WebSocket: no upgrade can outlive the head timer
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=timeouts.keep_alive,
        timeout_graceful_shutdown=GRACEFUL_HTTP_SECONDS,
    )


def _head_timeout_protocol(seconds: float) -> type[HeadTimeoutH11Protocol]:
    class Protocol(HeadTimeoutH11Protocol):
        head_timeout = seconds

    return Protocol


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline for each request's head.

    uvicorn's keep-alive timer ends a connection that stays silent after a response, but it is
    disarmed by the first byte, and a fresh connection has none: a client sending its headers a
    byte at a time would hold the connection forever. Here a timer runs from the connection (or
    the end of the previous response) until a whole request head has arrived.
    """

    head_timeout: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's head arrived: the app has it now
            self._disarm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle.response_complete and not self.transport.is_closing():
            self._arm_head_timer()  # waiting for the next request (not one already pipelined)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        with contextlib.suppress(h11.LocalProtocolError):  # mid-request: closing is all we can do
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()
