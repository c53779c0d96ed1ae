"""Podman, as the local executor uses it: how it is called, and what a crash leaves behind.

The configuration (`PodmanConfig`) is plain data, built from the `containers` settings by the
caller (`container_config.py`), so that `foredeck run` needs no settings model to use it.
Everything this machine needs (`--runtime runc`, a storage root, `--network=host`, ulimits) is
configuration: nothing here knows a machine.

Every container carries labels naming its owner: the host, the pid and the start time (clock
ticks since boot) of the foredeck process whose podman client started it. A `podman run` client
that dies does not stop its container, so after a crash (`kill -9` of `foredeck run` or of the
server) containers of a dead owner keep running; `remove_dead_owners`, called when `foredeck run`
or the controller's local executor starts, removes those of owners on this host that are gone,
as `orphans.py` kills the host processes of dead owners. A live owner's containers are left.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from foredeck.execute.orphans import read_stat
from foredeck.images.registry import insecure_in, registry_host

RUNTIMES = ("host", "podman", "auto")
PULL_POLICIES = ("missing", "always", "never", "newer")
LABEL_RUN = "foredeck.run"
LABEL_STEP = "foredeck.step"
LABEL_HOST = "foredeck.host"
LABEL_PID = "foredeck.pid"
LABEL_START = "foredeck.pid-start"
CALL_TIMEOUT = 120.0
"""Seconds a podman housekeeping call (ps, rm, image exists) may take."""

PODMAN_ENV = frozenset({"PATH", "HOME", "TMPDIR", "USER", "LANG", "TZ"})
"""Variables podman itself reads from foredeck's environment (with `LC_*`, `XDG_*`,
`CONTAINERS_*` and the proxies): a container variable of one of these names cannot travel
in podman's environment, so it is given on the command line (`-e NAME=VALUE`)."""
_PODMAN_PREFIXES = ("LC_", "XDG_", "CONTAINERS_", "REGISTRY_AUTH_FILE")
_PROXIES = frozenset(
    {"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
)


class PodmanError(RuntimeError):
    """Podman cannot be used as configured (not installed, a call that failed)."""


@dataclass(frozen=True)
class PodmanConfig:
    """How to call podman, and whether steps use it (`runtime`)."""

    runtime: str = "host"
    binary: str = "podman"
    global_args: tuple[str, ...] = ()
    """Flags before the command: `--root`, `--runroot`, `--storage-driver`, `--runtime`."""
    run_args: tuple[str, ...] = ()
    """Flags of every `podman run`: `--network=host`, `--ulimit=...`."""
    pull: str = "missing"
    pull_timeout: float = 600.0
    pass_env: tuple[str, ...] = ()
    insecure_registries: tuple[str, ...] = ()
    """Registries (`HOST:PORT` patterns) pulled from over plain HTTP (`images.insecure_registries`,
    where `build-image` tasks push)."""
    daemon_network: str | None = None
    """A network of its own for each Argo daemon's container (`podman`, the default bridge), as a
    pod has its own address; None: daemons share `run_args`' network (`served.py`)."""

    def tls_flags(self, image: str) -> list[str]:
        """`--tls-verify=false` when `image` comes from one of the plain-HTTP registries."""
        insecure = insecure_in(registry_host(image), self.insecure_registries)
        return ["--tls-verify=false"] if insecure else []

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime {self.runtime!r}: expected one of {', '.join(RUNTIMES)}")
        if self.pull not in PULL_POLICIES:
            raise ValueError(f"pull {self.pull!r}: expected one of {', '.join(PULL_POLICIES)}")

    @property
    def uses_podman(self) -> bool:
        return self.runtime != "host"

    def command(self, *args: str) -> list[str]:
        """`podman <global flags> args...`."""
        return [self.binary, *self.global_args, *args]

    def installed(self) -> str | None:
        """The podman binary's path, or None when it is not installed."""
        return shutil.which(self.binary)

    def call(self, *args: str, timeout: float = CALL_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run a podman command to its end (its output captured); raises PodmanError when it
        cannot start or does not end in time."""
        try:
            return subprocess.run(
                self.command(*args),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=process_env(),
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PodmanError(f"podman {args[0]}: {exc}") from None


def process_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """What podman's own process gets of foredeck's environment: what it needs to find its
    helpers, configuration and proxies, never the rest (which may hold credentials)."""
    source = os.environ if base is None else base
    return {
        name: value
        for name, value in source.items()
        if name in PODMAN_ENV or name in _PROXIES or name.startswith(_PODMAN_PREFIXES)
    }


def reserved(name: str) -> bool:
    """Whether podman reads `name` itself (see `PODMAN_ENV`)."""
    return name in PODMAN_ENV or name.startswith(_PODMAN_PREFIXES)


def _self_start() -> int:
    stat = read_stat(os.getpid())
    return stat.start if stat is not None else 0


def owner_labels() -> list[str]:
    """`--label` flags naming this process as the container's owner."""
    return [
        f"--label={LABEL_HOST}={socket.gethostname()}",
        f"--label={LABEL_PID}={os.getpid()}",
        f"--label={LABEL_START}={_self_start()}",
    ]


def _owner_gone(labels: Mapping[str, str]) -> bool:
    """Whether the owner process these labels name (on this host) no longer runs."""
    try:
        pid = int(labels.get(LABEL_PID, ""))
        start = int(labels.get(LABEL_START, ""))
    except ValueError:
        return False  # not ours to judge
    if pid == os.getpid():
        return False
    stat = read_stat(pid)
    return stat is None or stat.start != start


def dead_owners(listing: str, host: str) -> list[str]:
    """The ids of the containers in `podman ps -a --format json` output whose owner on `host`
    is gone."""
    found: list[str] = []
    for item in json.loads(listing or "[]") or []:
        labels = item.get("Labels") or {}
        if labels.get(LABEL_HOST) == host and _owner_gone(labels):
            found.append(str(item.get("Id")))
    return found


def remove_dead_owners(config: PodmanConfig) -> list[str]:
    """Remove (kill first) every container of a foredeck process on this host that is gone;
    returns their ids. A no-op when podman is not used or not installed."""
    if not config.uses_podman or config.installed() is None:
        return []
    host = socket.gethostname()
    listed = config.call("ps", "-a", "--filter", f"label={LABEL_HOST}={host}", "--format", "json")
    if listed.returncode != 0:
        raise PodmanError(f"podman ps: {listed.stderr.strip()}")
    ids = dead_owners(listed.stdout, host)
    if ids:
        config.call("rm", "--force", "--time=0", "--ignore", *ids)
    return ids


def is_running(config: PodmanConfig, name: str) -> bool:
    """Whether the container `name` exists and runs (not yet created: False)."""
    found = config.call("container", "inspect", "--format", "{{.State.Running}}", name)
    return found.returncode == 0 and found.stdout.strip() == "true"


def ip_address(config: PodmanConfig, name: str) -> str | None:
    """The container `name`'s address on its first network that gave it one (None: none yet,
    or it runs on the host's network)."""
    found = config.call(
        "container",
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        name,
    )
    addresses = found.stdout.split() if found.returncode == 0 else []
    return addresses[0] if addresses else None


def remove(config: PodmanConfig, name: str) -> None:
    """Kill and remove the container `name` (gone already: nothing to do)."""
    config.call("rm", "--force", "--time=0", "--ignore", name)


def image_problem(config: PodmanConfig, image: str, pull: str) -> str | None:
    """Why podman cannot run `image` now (None: it is in the store, or was just pulled)."""
    if config.installed() is None:
        return f"{config.binary} is not installed"
    try:
        if config.call("image", "exists", image).returncode == 0:
            return None
        if pull == "never":
            return f"image {image} is not in podman's store (pull policy never)"
        flags = config.tls_flags(image)
        pulled = config.call("pull", "--quiet", *flags, image, timeout=config.pull_timeout)
    except PodmanError as exc:
        return str(exc)
    if pulled.returncode == 0:
        return None
    lines = pulled.stderr.strip().splitlines()
    return f"image {image} cannot be pulled: {lines[-1] if lines else pulled.returncode}"
