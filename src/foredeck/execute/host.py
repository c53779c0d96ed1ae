"""The `local` executor: a job's steps as processes on this host, sandboxed.

It wraps `run_pipeline` (`local.py`) with what the settings say about host steps: the sandbox
(`isolation.py`: the host read-only, foredeck's state and credentials hidden; the job's checkout
writable), the tasks of one pipeline at once (`controller.parallel`), and the environment: an
allow-list of the server's (`PATH`, `LANG`, `LANGUAGE`, `LC_*`, `TZ`, and the names in
`controller.sandbox.pass_env`) under the job's Prow variables. Nothing else of the server's
environment reaches a step: it holds the server's credentials (`GITHUB_TOKEN`,
`AWS_SECRET_ACCESS_KEY`, database URLs), and a job runs code from anyone who can open a pull
request. `HOME` is the run's own (the executor makes one).

Steps that name no `workingDir` run in the job's checkout (Prow's work dir), as Prow's
decorated containers do.

With `containers.runtime: podman` (or `auto`) a step that names an image runs in it instead
(`containers.py`): the job's Prow variables and `containers.pass_env` are its environment, the
checkout is mounted at `/foredeck/src`, as in a decorated pod, and the job's lease files
read-only at `/foredeck/leases` (its `FOREDECK_LEASE*` paths say so in a container).
Containers a dead controller left on this host are removed when the executor is built and
before each job runs (`podman.remove_dead_owners`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Collection, Mapping
from pathlib import Path

from foredeck.execute.checkout_workspace import default_working_dir
from foredeck.execute.container_config import podman_config
from foredeck.execute.container_step import SRC_DIR, Mount
from foredeck.execute.containers import ContainerRun
from foredeck.execute.executor import ExecutorError, RunRequest
from foredeck.execute.isolation import job_sandbox
from foredeck.execute.lease_mount import LEASES_DIR, lease_paths_in_container
from foredeck.execute.local import run_pipeline
from foredeck.execute.podman import PodmanError, remove_dead_owners
from foredeck.execute.runstate import RunResult
from foredeck.execute.workspace import OutputDirError
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.settings import Settings
from foredeck.types import PipelineError

log = logging.getLogger(__name__)

ALLOWED = frozenset({"PATH", "LANG", "LANGUAGE", "TZ"})
"""Host variables every step gets (with `LC_*`): what programs need to run and format text."""


def step_env(
    job_env: Mapping[str, str],
    base: Mapping[str, str] | None = None,
    passed: Collection[str] = (),
) -> dict[str, str]:
    """The base environment of every step of a job: the allow-listed host variables of `base`
    (default: this process's), those named in `passed`, then the job's (`job_env`)."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k in ALLOWED or k.startswith("LC_") or k in passed}
    env.update(job_env)
    return env


class LocalExecutor:
    """Host steps in the sandbox of the settings; built once per controller (see the module
    docstring). Raises `SandboxError` when `controller.sandbox.mode: bwrap` cannot run here,
    `PodmanError` when `containers.runtime: podman` cannot."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        c = settings.controller
        self.parallel = c.parallel or os.cpu_count() or 1
        self.pass_env = tuple(c.sandbox.pass_env)
        self.sandbox = job_sandbox(settings)
        self.containers = podman_config(settings.containers, images=settings.images)
        config = self.containers
        if config.runtime == "podman" and config.installed() is None:
            raise PodmanError(f"containers.runtime is podman but {config.binary} is not installed")
        self.images = settings.images
        self._remove_dead()

    def _remove_dead(self) -> None:
        """Remove the containers of dead foredeck processes on this host (`podman.py`)."""
        try:
            removed = remove_dead_owners(self.containers)
        except PodmanError as exc:
            log.warning("controller: containers of dead runs not removed: %s", exc)
        else:
            if removed:
                log.warning("controller: removed %d containers left by dead runs", len(removed))

    async def run(
        self, run: PipelineRunSpec, out_dir: Path, request: RunRequest, cancel: asyncio.Event
    ) -> RunResult:
        if request.workdir is not None:
            default_working_dir(run, request.workdir)
        checkout = request.checkout
        if checkout is not None and checkout.is_dir():  # steps may run as another user
            await asyncio.to_thread(self.sandbox.hand_over, checkout, tree=True)
        if request.lease_dir is not None:
            await asyncio.to_thread(self.sandbox.hand_over, request.lease_dir, tree=True)
        if self.containers.uses_podman:
            # A job re-run after its controller died (recovered by another controller of this
            # host) must not run beside its first run's containers.
            await asyncio.to_thread(self._remove_dead)
        try:
            return await run_pipeline(
                run,
                out_dir,
                parallel=self.parallel,
                cancel=cancel,
                env=step_env(request.env, passed=self.pass_env),
                kill_grace=request.grace,
                sandbox=self.sandbox.with_writable(
                    p for p in [checkout, request.lease_dir] if p is not None and p.is_dir()
                ),
                marker=request.marker,
                max_output=request.max_output,
                censor=request.censor,
                containers=self._container_run(request),
                images=self.images,
            )
        except (PipelineError, OutputDirError) as exc:
            raise ExecutorError(str(exc)) from None

    def _container_run(self, request: RunRequest) -> ContainerRun | None:
        """What the job's container steps get: its Prow variables, its checkout, its leases."""
        if not self.containers.uses_podman:
            return None
        checkout = request.checkout
        mounts: tuple[Mount, ...] = ()
        if checkout is not None and checkout.is_dir():
            mounts = (Mount(os.path.realpath(checkout), SRC_DIR),)
        env = dict(request.env)
        leases = request.lease_dir
        if leases is not None and leases.is_dir():
            mounts += (Mount(os.path.realpath(leases), LEASES_DIR, readonly=True),)
            env = lease_paths_in_container(env, str(leases))
        return ContainerRun(self.containers, env, mounts)
