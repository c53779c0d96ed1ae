"""What the tests' child processes (`foredeck serve`, the demo, a hook server) run with."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The checkout under test."""


def python_path() -> str:
    """This checkout's sources first, then its root (for `tests.*`): a child runs the code under
    test even where the virtualenv's editable install points at another checkout."""
    return os.pathsep.join([str(ROOT / "src"), str(ROOT)])


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = python_path()
    return env
