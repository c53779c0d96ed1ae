"""Running a built service until SIGINT/SIGTERM, with or without an HTTP server.

With HTTP (roles `all` and `hook`) the listening socket is bound before anything else, so that
a busy port fails the start before the database is touched or a job claimed. uvicorn then owns
the signals: on the first one it stops accepting connections, lets requests in flight finish,
then runs the app's lifespan shutdown, which stops the components in reverse order. Without
HTTP the main thread starts the components, sleeps until a signal, and stops them in reverse
order itself.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from foredeck.hook.service import SWITCH_INTERVAL
from foredeck.serve.compose import Service, build_service
from foredeck.serve.roles import HTTP_ROLES, Role
from foredeck.settings import Settings
from foredeck.web.server import listen, run_http

log = logging.getLogger(__name__)


def serve(
    settings: Settings,
    role: Role = "all",
    *,
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
) -> None:
    """Build the service for `role` and run it until SIGINT/SIGTERM.

    Raises `ListenError` or `DatabaseUnavailable` (one line each) when the start fails; then
    no component has started and no job was touched.
    """
    # The hook's reason holds here too: one process, many threads, one busy event loop.
    sys.setswitchinterval(SWITCH_INTERVAL)
    if role not in HTTP_ROLES:
        _run_without_http(build_service(settings, role))
        return
    sock = listen(host or settings.hook.host, settings.hook.port if port is None else port)
    try:
        service = build_service(settings, role)
    except BaseException:
        sock.close()
        raise
    _freeze_and_log(service)
    assert service.app is not None
    worker = service.worker_process
    try:
        if worker is not None:
            # Before the server: a worker that cannot start fails the start in one line (the
            # app's lifespan start then finds it running; its shutdown stops it).
            worker.start()
        with _signals_end_quietly():
            run_http(service.app, sock, settings.hook.timeouts, log_level=log_level)
    finally:
        if worker is not None:
            worker.stop()
        sock.close()
        service.engine.dispose()


def _run_without_http(service: Service) -> None:
    _freeze_and_log(service)
    if not service.components:
        log.warning("role %s has nothing to run with these settings (disabled?)", service.role)
    run_until_signal(service)


def _freeze_and_log(service: Service) -> None:
    # Everything built so far lives as long as the process: keep it out of the collector's
    # full passes. Measured in the hook under load: a full pass walked ~145k objects and
    # stopped the event loop for ~50 ms (about one per 1,000 deliveries); frozen, ~6 ms.
    gc.freeze()
    names = ", ".join(type(c).__name__ for c in service.components) or "no background components"
    log.info("foredeck serve: role %s: %s", service.role, names)


@contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """After its graceful shutdown uvicorn raises the signal again for the handler it found
    installed; with this one in place that is a no-op, so a clean stop exits with status 0."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, _frame: FrameType | None) -> None:
    log.info("stopped by %s", signal.Signals(signum).name)


def run_until_signal(
    service: Service,
    stop: threading.Event | None = None,
    signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Start the components, wait for one of `signals` (or `stop`), then stop them."""
    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in signals:
            previous[sig] = signal.signal(sig, on_signal)
    try:
        service.start()
        while not stop.wait(1.0):
            pass
    finally:
        service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
