"""What all of the demo shares: the sample's names, the command line, the error that stops it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ORG = "acme"
REPO = "calculator"
PR = 1
FINAL_STATES = frozenset({"success", "failure", "aborted", "error"})
DEFAULT_WORKDIR = Path(".foredeck/demo")
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "demo"
STEP_TIMEOUT = 45.0
"""Seconds one step (server start, a round of jobs) may take before the demo gives up."""
STOP_GRACE = 20.0
"""Seconds between SIGTERM and SIGKILL when stopping the server."""
DEVELOPER = ("Alice Developer", "alice@example.com")
MAINTAINER = ("Bob Maintainer", "bob@example.com")


class DemoError(Exception):
    """The demo could not go on; the message says what was expected and where to look."""


@dataclass(frozen=True)
class Options:
    """The command line: see `main`."""

    workdir: Path
    keep_running: bool = False
    port: int = 0
    examples: Path = EXAMPLES
    timeout: float = STEP_TIMEOUT
