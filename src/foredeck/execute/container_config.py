"""The `containers` settings as the executor's `PodmanConfig` (`podman.py`).

Kept apart from `podman.py` so that `foredeck run` imports the settings model (pydantic) only
when it has container settings to read.
"""

from __future__ import annotations

from foredeck.execute.podman import PodmanConfig
from foredeck.settings import ContainerSettings, ImageSettings


def podman_config(
    settings: ContainerSettings, runtime: str | None = None, images: ImageSettings | None = None
) -> PodmanConfig:
    """The configuration of `settings`; `runtime` (a command-line flag) overrides theirs.
    `images`' plain-HTTP registries, where `build-image` tasks push, are pulled from so too."""
    flags: list[str] = []
    for flag, value in (
        ("--root", settings.storage_root),
        ("--runroot", settings.storage_runroot),
        ("--storage-driver", settings.storage_driver),
        ("--runtime", settings.oci_runtime),
    ):
        if value:
            flags.append(f"{flag}={value}")
    return PodmanConfig(
        runtime=runtime or settings.runtime,
        binary=settings.podman,
        global_args=(*flags, *settings.global_args),
        run_args=tuple(settings.run_args),
        pull=settings.pull,
        pull_timeout=settings.pull_timeout,
        pass_env=tuple(settings.pass_env),
        insecure_registries=tuple((images or ImageSettings()).insecure_registries),
        daemon_network=settings.daemon_network,
    )
