"""Foredeck servers for tests: a `foredeck serve` (or hook) subprocess on a free port, and an app
served by uvicorn in a thread of the test process.

A subprocess runs in a session of its own with a marker in its environment, so that teardown
finds and kills all it started, including steps orphaned by a SIGKILL of the server (the
executor starts each step in a new session, out of the server's group, and gives it an
allow-listed environment: those are found by their directory, under the server's).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
import uvicorn
import yaml
from fastapi import FastAPI

from tests.child import python_path
from tests.execute.helpers import processes_in
from tests.kit.jobs import JobsApi

MARKER_VAR = "TEST_SERVER_MARKER"
SERVE = ("-m", "foredeck.cli", "serve")
HOOK = ("-m", "foredeck.hook")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(kw_only=True)
class ServerProcess(JobsApi):
    """`python <command> --config <workdir>/foredeck.yaml --port N` with cwd `workdir`; start it
    again after `kill()` on the same database and directory, as a restarted machine would."""

    workdir: Path
    config: dict[str, Any] = field(default_factory=dict)
    command: tuple[str, ...] = SERVE
    options: tuple[str, ...] = ()
    """More arguments, e.g. `("--role", "hook")`."""
    log_level: str = "warning"
    api_token: str | None = None
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self) -> str:
        return self.url

    def settings(self) -> dict[str, Any]:
        """What `foredeck.yaml` holds (`config` here; subclasses derive it)."""
        return self.config

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start the process and wait until `/healthz` answers 200."""
        self.launch()
        deadline = time.monotonic() + timeout
        while not self._healthy():
            returncode = self.proc.poll() if self.proc is not None else None
            if returncode is not None:
                message = f"server exited {returncode}: {self.log()}"
            elif time.monotonic() > deadline:
                message = f"server never became healthy: {self.log()}"
            else:
                time.sleep(0.05)
                continue
            self.cleanup()
            raise AssertionError(message)

    def launch(self) -> None:
        """Start the process without waiting for it (a role without HTTP never answers)."""
        path = self.workdir / "foredeck.yaml"
        path.write_text(yaml.safe_dump(self.settings()))
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
        env["PYTHONPATH"] = python_path()
        env[MARKER_VAR] = self.marker
        self.starts += 1
        self._log = (self.workdir / f"serve-{self.starts}.log").open("wb")
        argv = [sys.executable, *self.command, "--config", str(path), *self.options]
        argv += ["--port", str(self.port), "--log-level", self.log_level]
        self.proc = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _healthy(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        return False

    def log(self, tail: int = 6000) -> str:
        """The end of what every start of the process wrote."""
        paths = [self.workdir / f"serve-{n}.log" for n in range(1, self.starts + 1)]
        text = "".join(p.read_text(errors="replace") for p in paths if p.exists())
        return text[-tail:]

    def kill(self) -> None:
        """SIGKILL the server alone: no shutdown code runs, as in a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM, SIGKILL of the group after `grace` seconds, then `cleanup()`; the exit code."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        self.cleanup()
        return proc.returncode if proc is not None else None

    def terminate(self) -> None:
        """SIGTERM as an operator would: the process must exit 0 and leave no child behind."""
        assert self.proc is not None
        children = psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, self.log()
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], f"children left running: {alive}"
        self._close_log()

    def cleanup(self) -> None:
        """Kill the server's group and every process it left (see `leftovers`)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        left = self.leftovers()
        for proc in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(left, timeout=10)
        self._close_log()

    def leftovers(self) -> list[psutil.Process]:
        """Processes other than the server that run with our marker in their environment, or
        in the server's directory (a job's steps get an allow-listed environment, without it)."""
        server = self.proc.pid if self.proc is not None else None
        found = {p.pid: p for p in processes_in(self.workdir) if p.pid != server}
        for proc in psutil.process_iter():
            try:
                if proc.pid != server and proc.environ().get(MARKER_VAR) == self.marker:
                    found[proc.pid] = proc
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return list(found.values())

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def serve(
    workdir: Path, role: str, config: dict[str, Any], timeout: float = 60.0
) -> Iterator[ServerProcess]:
    """`foredeck serve --role ROLE` on `config` while the block runs; killed at its end."""
    server = ServerProcess(workdir=workdir, config=config, options=("--role", role))
    server.start(timeout)
    try:
        yield server
    finally:
        server.cleanup()


@contextlib.contextmanager
def running(app: FastAPI, timeout: float = 20.0) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread; yields its base URL; stops the server (lifespan
    shutdown included)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout)
        assert not thread.is_alive(), "uvicorn did not stop"
