"""The demo's work directory (wiped only if an earlier demo made it) and the settings put in it."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

import yaml

from foredeck.demo.options import DemoError

MARKER = ".foredeck-demo"
"""Written into the work directory: only a directory holding it (or an empty one) is wiped."""
MARKER_TEXT = "made by python -m foredeck.demo, wiped by its next run; driver pid "


def prepare_workdir(workdir: Path) -> Path:
    """An empty `workdir` (absolute). A directory is wiped only if an earlier demo made it, so
    `--workdir` pointed at someone's files by mistake refuses instead of deleting them."""
    workdir = workdir.resolve()
    if workdir.exists():
        if not workdir.is_dir():
            raise DemoError(f"{workdir} exists and is not a directory")
        marker = workdir / MARKER
        if any(workdir.iterdir()) and not marker.is_file():
            raise DemoError(
                f"{workdir} is not empty and was not made by the demo ({MARKER} missing); "
                "choose another --workdir or remove it yourself"
            )
        owner = _marker_pid(marker)
        if owner is not None and owner != os.getpid() and _alive(owner):
            raise DemoError(
                f"{workdir} is in use by another demo (pid {owner}); stop it with Ctrl-C "
                "or choose another --workdir"
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).write_text(f"{MARKER_TEXT}{os.getpid()}\n")
    return workdir


def _marker_pid(marker: Path) -> int | None:
    try:
        text = marker.read_text()
    except OSError:
        return None
    tail = text.removeprefix(MARKER_TEXT).strip()
    return int(tail) if text.startswith(MARKER_TEXT) and tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def demo_settings(template: dict[str, Any], workdir: Path, port: int, token: str) -> dict[str, Any]:
    """The template (`examples/demo/foredeck.yaml`) with its paths under `workdir`.

    Paths are made absolute so that the settings file works from any directory and no component
    depends on the server's current directory.
    """
    s: dict[str, Any] = yaml.safe_load(yaml.safe_dump(template))  # a deep copy

    def under(value: str) -> str:
        return str(workdir / value)

    s["scm"]["local_root"] = under(s["scm"]["local_root"])
    s["database_url"] = "sqlite:///" + under(s["database_url"].removeprefix("sqlite:///"))
    s["config_path"] = under(s["config_path"])
    trigger = s["plugin_config"]["trigger"]
    trigger["cache_dir"] = under(trigger["cache_dir"])
    s["controller"]["workdir"] = under(s["controller"]["workdir"])
    s["controller"]["mirror_dir"] = under(s["controller"]["mirror_dir"])
    s["artifacts"]["url"] = (workdir / s["artifacts"]["url"].removeprefix("file://")).as_uri()
    s.setdefault("hook", {}).update(host="127.0.0.1", port=port)
    s.setdefault("reporter", {})["dashboard_url"] = f"http://127.0.0.1:{port}"
    s.setdefault("api", {})["token"] = token
    return s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
