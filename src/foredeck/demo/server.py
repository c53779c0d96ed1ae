"""`foredeck serve` as a child process the demo always stops, with every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import httpx

from foredeck.demo.options import STOP_GRACE, DemoError


class Server:
    """`foredeck serve` as a child process in its own process group, output in `log_path`.

    Its own group: the terminal's Ctrl-C reaches only the driver, which then stops the server
    in order (SIGTERM lets the controller abort running jobs and wait for their processes).
    """

    def __init__(self, config: Path, port: int, log_path: Path, cwd: Path) -> None:
        self.config = config
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.cwd = cwd
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
        argv = [sys.executable, "-m", "foredeck.cli", "serve", "--config", str(self.config)]
        argv += ["--port", str(self.port), "--log-level", "warning"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                raise DemoError(f"foredeck serve exited with status {code}:\n{self.log_tail()}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise DemoError(f"foredeck serve not healthy after {timeout:.0f} s")
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM, SIGKILL to its group after `grace`; then no process of it is left.

        Returns the exit status (None if it was never started).
        """
        proc = self.proc
        if proc is None:
            return None
        descendants = _descendants(proc.pid)
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _killpg(proc.pid)
                proc.wait(10)
        _killpg(proc.pid)  # anything left in its group
        for kill in descendants:  # job steps run in process groups of their own
            kill()
        return proc.returncode


def _killpg(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _descendants(pid: int) -> list[Callable[[], None]]:
    """A way to kill each of the process's descendants, when psutil (a dev dependency) is there
    to tell. psutil's `kill` checks the process's identity first, so a reused pid is safe."""
    try:
        import psutil
    except ImportError:
        return []

    def killer(proc: psutil.Process) -> Callable[[], None]:
        def kill() -> None:
            with suppress(psutil.Error):
                proc.kill()

        return kill

    try:
        return [killer(p) for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []
