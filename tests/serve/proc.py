"""Run `foredeck serve` as a subprocess on a free port, and stop it as an operator would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import yaml

from tests.child import python_path
from tests.serve.threaded import free_port

T = TypeVar("T")


@contextmanager
def serve(
    workdir: Path, role: str, config: dict[str, Any], timeout: float = 60.0
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    path = workdir / "foredeck.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
    env["PYTHONPATH"] = python_path()
    log = (workdir / "serve.log").open("wb")
    argv = [sys.executable, "-m", "foredeck.cli", "serve", "--config", str(path)]
    argv += ["--role", role, "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, f"serve exited {proc.returncode}: {output(workdir)}"
            assert time.monotonic() < deadline, f"serve never became healthy: {output(workdir)}"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def output(workdir: Path) -> str:
    return (workdir / "serve.log").read_text(errors="replace")[-4000:]


def terminate(proc: subprocess.Popen[bytes], workdir: Path) -> None:
    """SIGTERM; the process must exit 0 and leave none of its children behind."""
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, output(workdir)
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"children left running: {alive}"


def wait_for(what: str, check: Callable[[], T], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
