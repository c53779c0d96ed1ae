"""`foredeck run --runtime`: whether a local run's steps use their images, and how.

`--runtime host|podman|auto` wins over the `containers` settings (`FOREDECK_CONFIG`'s file and
`FOREDECK_CONTAINERS__*` variables, such as `FOREDECK_CONTAINERS__STORAGE_ROOT`), which give
the rest: podman's storage and flags. The settings are read only when there is something to
read (a flag other than `host`, a settings file, a `FOREDECK_CONTAINERS__` variable), so that a
plain run starts without the settings model. Containers a dead `foredeck run` left are removed
before the run starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from foredeck.execute.containers import ContainerRun
from foredeck.execute.podman import RUNTIMES, PodmanError, remove_dead_owners

_CONTAINER_VARS = "FOREDECK_CONTAINERS__"


def wants_settings(runtime: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the run must read the settings to know its runtime."""
    env = os.environ if environ is None else environ
    if runtime == "host":
        return False
    if runtime is not None:
        return True
    return bool(env.get("FOREDECK_CONFIG")) or any(k.startswith(_CONTAINER_VARS) for k in env)


def container_run(runtime: str | None, source: Path | None) -> ContainerRun | None:
    """The run's containers (None: every step on the host). Raises ValueError (one line) for
    a bad flag or settings, or podman missing with `--runtime podman`."""
    if runtime is not None and runtime not in RUNTIMES:
        raise ValueError(f"--runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if not wants_settings(runtime):
        return None
    from foredeck.execute.container_config import podman_config
    from foredeck.execute.container_step import SRC_DIR, Mount
    from foredeck.settings import SettingsError, load_settings

    try:
        settings = load_settings()
        config = podman_config(settings.containers, runtime, settings.images)
    except SettingsError as exc:
        raise ValueError(str(exc).replace("\n", " ")) from None
    if not config.uses_podman:
        return None
    if config.runtime == "podman" and config.installed() is None:
        raise ValueError(f"--runtime podman: {config.binary} is not installed")
    try:
        removed = remove_dead_owners(config)
    except PodmanError as exc:
        sys.stderr.write(f"containers of dead runs not removed: {exc}\n")
    else:
        if removed:
            sys.stderr.write(f"removed {len(removed)} containers left by dead runs\n")
    mounts = (Mount(os.path.realpath(source), SRC_DIR),) if source is not None else ()
    return ContainerRun(config, {}, mounts)
