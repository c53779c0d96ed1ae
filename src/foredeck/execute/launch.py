"""What starts one step or sidecar: the process, and the container it runs, if any."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Launch:
    """A step made ready to start (`steps.StepRunner`): on the host, or a `podman run`."""

    argv: list[str]
    cwd: str
    env: dict[bytes, bytes]
    outputs: tuple[str | None, str | None] = (None, None)
    """The host files its stdout and stderr are copied to (`stdoutConfig`/`stderrConfig`)."""
    outputs_cwd: str = ""
    """What a relative path in `outputs` is relative to (on the host)."""
    marker: str | None = None
    """`FOREDECK_RUN` of an unsandboxed host step (`orphans.py`)."""
    container: str | None = None
    """The name of the container the process runs, to stop it by (`containers.py`)."""
