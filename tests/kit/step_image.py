"""A private podman store with a busybox step image, for tests of steps run in containers.

The image (`IMAGE`) is `tests/kit/containers.py`'s busybox built offline, plus a file only the
image has (`/etc/in-image`) and an entrypoint and CMD, so a test can tell a step ran in it and
that the image's entrypoint ran. `config` is the executor's podman configuration for the store,
with the flags this kind of machine needs (`--runtime runc`, host network, ulimits);
`settings` the same as the `containers` settings section.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foredeck.execute.podman import LABEL_HOST, PodmanConfig
from tests.kit.containers import Store, build_busybox_image, make_store, require_tools

IMAGE = "localhost/foredeck-step:test"
IN_IMAGE = "from the image"
ENTRYPOINT_SAYS = "from-entrypoint"


@dataclass(frozen=True)
class StepImage:
    store: Store
    image: str

    def config(self, runtime: str = "podman", **more: Any) -> PodmanConfig:
        return PodmanConfig(
            runtime,
            global_args=(*self.store.global_args, "--runtime", self.store.oci_runtime),
            run_args=self.store.run_args,
            **more,
        )

    def settings(self, runtime: str = "podman") -> dict[str, Any]:
        """The `containers` settings section for this store."""
        return {
            "runtime": runtime,
            "storage_root": str(self.store.root),
            "storage_runroot": str(self.store.runroot),
            "storage_driver": self.store.driver,
            "oci_runtime": self.store.oci_runtime,
            "run_args": list(self.store.run_args),
        }

    def env(self, runtime: str = "podman") -> dict[str, str]:
        """The same as `FOREDECK_CONTAINERS__*` variables (for `foredeck run`)."""
        out = {}
        for key, value in self.settings(runtime).items():
            name = f"FOREDECK_CONTAINERS__{key.upper()}"
            out[name] = value if isinstance(value, str) else json.dumps(value)
        return out

    def containers(self, label: str = LABEL_HOST) -> list[str]:
        """Names of the containers (any state) carrying `label` (`key` or `key=value`)."""
        done = self.store.podman("ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}")
        return done.stdout.split()

    def remove_all(self) -> None:
        """Remove every container of the store, and the store's runroot."""
        self.store.podman("rm", "--all", "--force", "--time=0", check=False)
        shutil.rmtree(self.store.runroot, ignore_errors=True)


def build_step_image(base: Path) -> StepImage:
    """A store under `base` with `IMAGE` in it (skips, or fails in CI, without podman).

    Its runroot is a short directory of its own: podman refuses one longer than 50 characters,
    and pytest-xdist's temporary paths are longer (`StepImage.remove_all` removes it)."""
    require_tools("podman", "buildah", "runc")
    store = make_store(base)
    store = Store(store.root, Path(tempfile.mkdtemp(prefix="fd-run-")))
    context = base / "context"
    context.mkdir(parents=True, exist_ok=True)
    (context / "in-image").write_text(IN_IMAGE + "\n")
    extra = (
        "COPY in-image /etc/in-image\n"
        f'ENTRYPOINT ["/bin/echo", "{ENTRYPOINT_SAYS}"]\n'
        'CMD ["from-cmd"]\n'
    )
    try:
        build_busybox_image(store, IMAGE, context, extra)
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"building {IMAGE} failed: {exc.stderr}") from None
    return StepImage(store, IMAGE)
