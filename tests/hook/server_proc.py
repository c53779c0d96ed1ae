"""Run `python -m foredeck.hook` as a subprocess on a free port, for the storm and crash tests."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from tests.child import child_env
from tests.hook.helpers import SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class HookServer:
    workdir: Path
    database_url: str
    plugins: Sequence[str] = ("tests.hook.recorder:factory",)
    plugin_config: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        config = {
            "database_url": self.database_url,
            "hook": {"secrets": [SECRET], "host": "127.0.0.1"},
            "worker": {"plugins": list(self.plugins), "poll_interval": 0.5},
            "plugin_config": self.plugin_config,
        }
        path = self.workdir / "hook.yaml"
        path.write_text(yaml.safe_dump(config))
        self.port = free_port()
        env = child_env()
        env.pop("FOREDECK_CONFIG", None)
        self._log = (self.workdir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "foredeck.hook",
                "--config",
                str(path),
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hook server exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"hook server did not become healthy: {self.log()}")

    def log(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_log()
        return self.proc.returncode if self.proc is not None else None

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: str
    body: bytes
    headers: dict[str, str]
    good: bool


@dataclass
class Outcome:
    delivery: Delivery
    status: int | None  # None: no answer (connection error)
    body: dict[str, Any] | None


async def send_all(
    url: str,
    deliveries: Sequence[Delivery],
    concurrency: int = 32,
    stop_after: asyncio.Event | None = None,
) -> list[Outcome]:
    """POST every delivery with `concurrency` in flight; connection errors become status None."""
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def one(d: Delivery) -> Outcome:
            async with semaphore:
                if stop_after is not None and stop_after.is_set():
                    return Outcome(d, None, None)
                try:
                    r = await client.post("/hook", content=d.body, headers=d.headers)
                except httpx.HTTPError:
                    return Outcome(d, None, None)
                return Outcome(d, r.status_code, r.json())

        return list(await asyncio.gather(*(one(d) for d in deliveries)))
