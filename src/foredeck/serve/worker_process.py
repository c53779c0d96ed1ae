"""The event worker of `foredeck serve --role all` in a child process of its own.

Plugins do their work in Python, and in one process that work shares the GIL with the hook's
event loop: the hook then answers GitHub at a third of its speed. In a child process it does
not. The child is this module (`python -m foredeck.serve.worker_process FD LEVEL`): it reads
the parent's settings (pickled, on stdin: no secret in argv or the environment) and runs the
`worker` role on the same database.

Wake-ups stay as cheap as the in-process callbacks were: a UNIX socket pair. The parent sends
one byte (`WAKE`) when the hook (or the API, or the local watcher) logged an event; a byte that
does not fit is dropped: a wake-up is only a hint, both sides also poll the database. The child
sends lines: `READY` once, then `HANDLED` after each batch that handled events (which may have
created jobs: the parent wakes the controller), with its worker metrics (JSON) at most twice a
second; the parent serves them on its own `/metrics` (`foredeck_worker_*`, as when the worker
runs in its process).

The child runs at a lower CPU priority (`worker.niceness`): in a storm on a small machine, the
hook's answers to GitHub come first and the events wait in the durable log a little longer.

Supervision: the parent waits for the child's `READY` at start, so that a worker that cannot
start (a plugin that fails to import) fails the start of `foredeck serve`. A child that dies
later is logged and started again, after 1 s and up to 30 s while it keeps dying. The child
stops when its socket ends: when the parent stops it (then SIGKILL after the timeout) or dies,
so none is orphaned. It ignores SIGINT and SIGTERM: a signal to the whole process group (the
terminal's Ctrl-C, `systemctl stop`) reaches the parent too, which stops it in its turn.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

import foredeck
from foredeck.settings import Settings

if TYPE_CHECKING:
    from foredeck.hook.worker import Worker

log = logging.getLogger(__name__)

READY = b"R\n"
WAKE = b"w"
HANDLED = b"h"
METRICS = b"m"
METRICS_INTERVAL = 0.5
"""Seconds between two metrics messages of the child (a storm has many batches per second)."""
READY_TIMEOUT = 120.0
"""Seconds the child may take to import, migrate and load its plugins."""
FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STABLE_AFTER = 60.0
"""A child that ran this long before it died is restarted after the first delay again."""

Callback = Callable[[], None]


class WorkerProcessError(RuntimeError):
    """The event worker's process did not start (its own output says why)."""


class WorkerProcess:
    """The parent's side: start, wake, supervise and stop the child running the worker."""

    def __init__(
        self,
        settings: Settings,
        *,
        after_batch: Sequence[Callback] = (),
        registry: CollectorRegistry | None = None,
        log_level: str = "",
    ) -> None:
        self.settings = settings
        self.after_batch = list(after_batch)
        """Called (in the supervising thread) after the child handled events."""
        self.log_level = log_level or logging.getLevelName(logging.getLogger().level).lower()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        """Held while a child starts: `stop()` then waits for it, and stops it."""
        self._thread: threading.Thread | None = None
        self._buffer = b""
        self._metrics = _ChildMetrics()
        if registry is not None:
            registry.register(self._metrics)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def notify(self) -> None:
        """Wake the worker now (thread-safe, never blocks)."""
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):  # full (a wake-up is pending anyway) or gone
                sock.send(WAKE, socket.MSG_DONTWAIT)

    def start(self) -> None:
        """Start the child and wait until it is ready; raises `WorkerProcessError` when it
        exits first. Does nothing when it runs already."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._spawn()
        self._thread = threading.Thread(
            target=self._supervise, name="foredeck-worker-process", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the child (after the event in progress) and the supervising thread."""
        self._stopping.set()
        with self._lock:
            proc, sock, thread = self._proc, self._sock, self._thread
            self._thread, self._sock = None, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the child's signal to stop
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("event worker process: still busy after %.0fs; killing it", timeout)
                proc.kill()
                proc.wait()
        if thread is not None:
            thread.join(timeout)
        if sock is not None:
            sock.close()

    # -- the child ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        argv = [sys.executable, "-m", __name__, str(theirs.fileno()), self.log_level]
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, pass_fds=(theirs.fileno(),), env=_child_env()
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        assert proc.stdin is not None
        try:
            proc.stdin.write(pickle.dumps(self.settings))
            proc.stdin.close()
            self._buffer = _ready(proc, ours)
        except BaseException:
            ours.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            raise
        self._proc, self._sock = proc, ours
        log.info("event worker: process %d", proc.pid)

    def _supervise(self) -> None:
        delay = FIRST_RESTART_DELAY
        while True:
            started = time.monotonic()
            self._relay()
            if self._stopping.is_set():
                return
            proc = self._proc
            code = proc.wait() if proc is not None else None
            if time.monotonic() - started > STABLE_AFTER:
                delay = FIRST_RESTART_DELAY
            log.error("event worker process exited with status %s; starting it again", code)
            if not self._restart(delay):
                return
            delay = min(delay * 2, MAX_RESTART_DELAY)

    def _restart(self, delay: float) -> bool:
        """Start the child again after `delay` (longer while it fails); False: stopping."""
        old = self._sock
        self._sock = None
        if old is not None:
            old.close()
        while not self._stopping.wait(delay):
            try:
                with self._lock:
                    if self._stopping.is_set():
                        return False
                    self._spawn()
                return True
            except (WorkerProcessError, OSError) as exc:
                log.error("%s; trying again in %.0fs", exc, delay)
                delay = min(delay * 2, MAX_RESTART_DELAY)
        return False

    def _relay(self) -> None:
        """Pass the child's wake-ups on until it is gone (the end of the socket)."""
        sock, data = self._sock, b""
        while sock is not None:
            *lines, self._buffer = (self._buffer + data).split(b"\n")
            metrics = [line[1:] for line in lines if line[:1] in (HANDLED, METRICS) and line[1:]]
            if metrics:
                self._metrics.update(metrics[-1])
            if any(line.startswith(HANDLED) for line in lines):
                for callback in self.after_batch:
                    try:
                        callback()
                    except Exception:
                        log.exception("event worker: wake-up callback %r failed", callback)
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return


def _ready(proc: subprocess.Popen[bytes], sock: socket.socket) -> bytes:
    """Wait for the child's `READY`; what came after it in the same read."""
    sock.settimeout(READY_TIMEOUT)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        raise WorkerProcessError(
            f"the event worker process was not ready after {READY_TIMEOUT:.0f}s"
        ) from None
    sock.settimeout(None)
    if not data.startswith(READY):
        code = proc.wait()
        raise WorkerProcessError(f"the event worker process exited with status {code}")
    return data[len(READY) :]


class _ChildMetrics(Collector):
    """The child's worker metrics, as it last sent them, in the parent's registry."""

    def __init__(self) -> None:
        self._families: list[dict[str, Any]] = []

    def update(self, message: bytes) -> None:
        try:
            self._families = json.loads(message)
        except ValueError:
            log.warning("event worker: unreadable metrics from the child: %r", message[:200])

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            metric = CounterMetricFamily(family["name"], family["doc"], labels=family["labels"])
            for values, value in family["samples"]:
                metric.add_metric(values, value)
            yield metric


def _counters(registry: CollectorRegistry) -> bytes:
    """The child's counters (name, help, label names, samples) as one JSON line."""
    families = []
    for family in registry.collect():
        if family.type != "counter":
            continue
        samples = [s for s in family.samples if s.name.endswith("_total")]
        labels = sorted(samples[0].labels) if samples else []
        families.append(
            {
                "name": family.name,
                "doc": family.documentation,
                "labels": labels,
                "samples": [[[s.labels[k] for k in labels], s.value] for s in samples],
            }
        )
    return json.dumps(families, separators=(",", ":")).encode()


def _child_env() -> dict[str, str]:
    """The parent's environment, with this very foredeck first on the child's import path."""
    env = dict(os.environ)
    root = str(Path(foredeck.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


# -- in the child ----------------------------------------------------------------------------


def child_main(argv: Sequence[str]) -> int:
    """Run the worker role for the parent on the socket `argv[0]`, logging at `argv[1]`."""
    # Only the parent stops us (by closing the socket), after it stopped taking events: a
    # signal to the whole group (Ctrl-C, `systemctl stop`) reaches the parent too.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    channel = socket.socket(fileno=int(argv[0]))
    settings: Settings = pickle.load(sys.stdin.buffer)  # noqa: S301 (our parent's pipe)
    from foredeck.logs import configure_logging
    from foredeck.serve.cli import start_errors
    from foredeck.serve.compose import build_service
    from foredeck.serve.run import run_until_signal

    configure_logging(argv[1])
    niceness = settings.worker.niceness
    try:
        service = build_service(settings, "worker")
    except start_errors() as exc:
        print(f"foredeck serve: event worker: {exc}", file=sys.stderr)
        return 2
    if niceness > 0:
        os.nice(niceness)
    stop = threading.Event()
    if service.worker is not None:
        reporter = _BatchReporter(channel, service.registry, stop)
        service.worker.after_batch.append(reporter.handled)
    relay = threading.Thread(target=_wake_ups, args=(channel, service.worker, stop), daemon=True)
    relay.start()
    try:
        channel.sendall(READY)
    except OSError:  # the parent is gone already
        return 0
    run_until_signal(service, stop, signals=())
    return 0


def _wake_ups(channel: socket.socket, worker: Worker | None, stop: threading.Event) -> None:
    """Wake the worker on each byte from the parent; stop when the parent is gone."""
    while True:
        try:
            data = channel.recv(4096)
        except OSError:
            data = b""
        if not data:
            stop.set()
            return
        if worker is not None:
            worker.notify()


class _BatchReporter:
    """Tells the parent about each batch at once (it wakes the controller), but sends the
    metrics at most every `METRICS_INTERVAL`: in a storm, serialising every counter after each
    batch would cost the parent (which decodes them under the hook's GIL) more than the wake-up."""

    def __init__(
        self, channel: socket.socket, registry: CollectorRegistry, stop: threading.Event
    ) -> None:
        self.channel = channel
        self.registry = registry
        self._sent = -METRICS_INTERVAL
        self._pending = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._flush, args=(stop,), daemon=True).start()

    def handled(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._sent >= METRICS_INTERVAL:
                self._sent = now
                self._pending.clear()
                _send(self.channel, HANDLED + _counters(self.registry) + b"\n")
            else:
                self._pending.set()
                _send(self.channel, HANDLED + b"\n")

    def _flush(self, stop: threading.Event) -> None:
        """Send the metrics a throttled batch left behind, once the interval is over."""
        while not stop.is_set():
            self._pending.wait()
            if stop.wait(METRICS_INTERVAL):
                return
            with self._lock:
                if self._pending.is_set():
                    self._sent = time.monotonic()
                    self._pending.clear()
                    _send(self.channel, METRICS + _counters(self.registry) + b"\n")


def _send(channel: socket.socket, message: bytes) -> None:
    with contextlib.suppress(OSError):  # the parent is gone: the relay stops us
        channel.sendall(message)


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
