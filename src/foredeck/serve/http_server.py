"""The HTTP server of `foredeck serve` and `python -m foredeck.hook`: uvicorn on a socket that
was bound before anything else started.

The socket is bound (and listening) first, before the database is touched and before any
component starts: a second server on a busy port then fails at once, without claiming jobs it
could not serve. uvicorn gets the socket (`Server.run(sockets=[...])`).
"""

from __future__ import annotations

import os
import socket

import uvicorn
from fastapi import FastAPI

BACKLOG = 2048  # uvicorn's default
GRACEFUL_HTTP_SECONDS = 10
"""After SIGINT/SIGTERM, requests in flight get this long to finish."""


class ListenError(OSError):
    """The listening socket cannot be made (port in use, unknown host, no permission)."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port`; raises `ListenError` with a one-line reason."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        return socket.create_server(address, family=family, backlog=BACKLOG)
    except OSError as exc:  # create_server's strerror has the address appended: not errno's
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None


def run_http(app: FastAPI, sock: socket.socket, *, log_level: str) -> None:
    """Serve `app` on `sock` until SIGINT/SIGTERM (uvicorn's handling, graceful for 10 s)."""
    uvicorn.Server(server_config(app, log_level=log_level)).run(sockets=[sock])


def server_config(app: FastAPI, *, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_HTTP_SECONDS,
    )
