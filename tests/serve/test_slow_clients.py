"""Slow clients cannot hold connections: a request body that stalls (or trickles past the total
cap) is answered 408 and the connection closed, on `/hook` and the API's writes; a request head
that does not arrive in time, and an idle keep-alive connection, are closed. Through the real
HTTP server of `foredeck serve` (uvicorn on a socket bound first), over raw sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from foredeck.serve.app import create_service_app
from foredeck.settings import HttpTimeouts
from foredeck.web.server import listen, server_config
from tests.api.helpers import TOKEN, settings_for
from tests.db.fixtures import Database
from tests.serve.test_http_metrics import counted

DEADLINE = 30.0
"""Seconds a test waits for the server's answer: far beyond every timeout configured here."""


@contextmanager
def serving(app: FastAPI, timeouts: HttpTimeouts) -> Iterator[int]:
    """`app` on the HTTP server `foredeck serve` runs, in a thread; yields its port."""
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(server_config(app, timeouts, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + DEADLINE
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(DEADLINE)
        sock.close()


def connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    conn.settimeout(DEADLINE)
    return conn


def read_until_closed(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails at `DEADLINE`)."""
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def head(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nAuthorization: Bearer {TOKEN}\r\n"
        "X-GitHub-Event: ping\r\nX-GitHub-Delivery: slow-1\r\n"
        "X-Hub-Signature-256: sha256=00\r\n\r\n"
    ).encode()


Serve = Callable[[HttpTimeouts], AbstractContextManager[tuple[int, CollectorRegistry]]]


@pytest.fixture
def serve(sqlite_db: Database, tmp_path: Path) -> Serve:
    """Serves the service app (with `/hook`) with `timeouts`: yields its port and registry."""

    @contextmanager
    def start(timeouts: HttpTimeouts) -> Iterator[tuple[int, CollectorRegistry]]:
        settings = settings_for(sqlite_db, tmp_path)
        settings.hook.timeouts = timeouts
        registry = CollectorRegistry()
        app = create_service_app(settings, sqlite_db.engine, registry=registry)
        with serving(app, timeouts) as port:
            yield port, registry

    return start


@pytest.mark.parametrize("path", ["/hook", "/api/jobs"])
def test_a_stalled_body_is_answered_408_and_the_connection_closed(serve: Serve, path: str) -> None:
    with serve(HttpTimeouts(body_idle=0.3, body=60)) as (port, registry), connect(port) as conn:
        conn.sendall(head(path, 100) + b'{"name": ')  # then nothing
        answer = read_until_closed(conn)
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", answer
    assert b"connection: close" in rest.lower()
    assert b"no request body data for 0.3 s" in rest
    if path == "/hook":
        ping = {"event": "ping", "status": "408"}
        assert registry.get_sample_value("foredeck_hook_deliveries_total", ping) == 1
    else:
        assert counted(registry, "/api/jobs", "POST", 408) == 1


def test_a_trickled_body_meets_the_total_cap(serve: Serve) -> None:
    with serve(HttpTimeouts(body_idle=10, body=0.5)) as (port, _), connect(port) as conn:
        conn.sendall(head("/api/jobs", 10_000))
        stop = threading.Event()

        def trickle() -> None:
            # A byte every 50 ms, never idle, for 0.3 s, then quiet: the total cap (0.5 s), not
            # the idle one (10 s), must end it. Quiet before the cap, so that the server has read
            # every byte when it closes: unread bytes would turn its close into a reset that can
            # destroy the 408 on its way (what a loaded machine showed).
            until = time.monotonic() + 0.3
            while time.monotonic() < until and not stop.wait(0.05):
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        started = time.monotonic()
        try:
            answer = read_until_closed(conn)
        finally:
            stop.set()
            sender.join(DEADLINE)
    assert time.monotonic() - started < 10  # long before the idle timeout
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer
    assert b"request body not complete after 0.5 s" in answer


def test_a_slow_head_is_cut_off(serve: Serve) -> None:
    with serve(HttpTimeouts(head=0.3, keep_alive=60)) as (port, _):
        with connect(port) as silent:
            assert read_until_closed(silent) == b""  # connected, never said a word
        with connect(port) as slow:
            slow.sendall(b"GET /livez HTTP/1.1\r\nHost: test\r\n")  # the head never ends
            assert read_until_closed(slow) == b""
        with connect(port) as pipelined:  # served, then the next head is cut off too
            pipelined.sendall(b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\nGET /livez HTTP/1.1\r\n")
            answer = read_until_closed(pipelined)
            assert answer.startswith(b"HTTP/1.1 200 OK") and answer.count(b"HTTP/1.1") == 1


def test_an_idle_keep_alive_connection_is_closed(serve: Serve) -> None:
    with serve(HttpTimeouts(keep_alive=1, head=60)) as (port, _), connect(port) as idle:
        idle.sendall(b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n")
        answer = read_until_closed(idle)  # answered, then closed after keep_alive
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer
