"""Where an Argo daemon serves, known once its step starts (`daemons.py`).

A daemon on the host, or in a container on the run's shared network, is at the loopback
address. With `PodmanConfig.daemon_network` its container gets a network of its own, as a pod
has its own address in Kubernetes, so that two daemons of one workflow may serve the same port;
it is then at that container's address, read from podman once the container runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Served:
    """Set as the daemon's main step starts: `started`, and `container` when that step runs in
    a container on a network of its own."""

    started: bool = False
    container: str | None = None


def own_network(run_args: tuple[str, ...], network: str) -> list[str]:
    """`run_args` with their network flags (`--network=X`, `--net X`, ...) replaced by
    `--network=network`."""
    kept: list[str] = []
    skip = False
    for arg in run_args:
        if skip:
            skip = False
            continue
        if arg in ("--network", "--net"):
            skip = True
            continue
        if arg.startswith(("--network=", "--net=")):
            continue
        kept.append(arg)
    return [*kept, f"--network={network}"]
