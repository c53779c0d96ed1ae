"""Steps in their images: which steps of a run podman runs, and the containers it starts.

With `runtime: podman` every step that names an image runs in it (`podman run`, one container
per step, `container_step.py` builds the command); with `auto` only when podman is installed and
the image is in its store or can be pulled, else the image's steps run on the host and the run
log says why, once per image (the answer is kept for the run: no per-step `podman` call). Steps
without an image, and foredeck's own helper steps (the Argo output and artifact steps, written
for a host's shell), always run on the host.

A container's name is derived from the run (`foredeck-<run>-<random>-<n>`), and its labels name
the run and the foredeck process that owns it (`podman.py`). A podman client killed at a
timeout or cancel leaves its container running, so after such an end, or any error, the
container is removed by name (`podman rm --force`). An Argo task's main container is kept
after it ends until its outputs are copied out, and its steps see Argo's artifact paths
(`pod_files.py`).
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from foredeck.execute import lookups
from foredeck.execute.container_step import (
    ARTIFACTS_DIR,
    Mount,
    MountPlan,
    attempt_mounts,
    container_lookup,
    entrypoint,
    entrypoint_flag,
    env_flags,
    limit_flags,
    step_pull,
    working_dir,
)
from foredeck.execute.launch import Launch
from foredeck.execute.pod_files import PodFiles, copy_out, input_mounts, real_paths
from foredeck.execute.podman import (
    LABEL_RUN,
    PodmanConfig,
    PodmanError,
    image_problem,
    ip_address,
    is_running,
    owner_labels,
    process_env,
    remove,
)
from foredeck.execute.served import own_network
from foredeck.execute.workspace import RunLayout
from foredeck.pipeline.artifacts import STEPS as ARTIFACT_STEPS
from foredeck.pipeline.collector import (
    COLLECT_IMAGE,
    COLLECT_STEP,
    collector_script,
    parse_collector,
)
from foredeck.pipeline.expressions import Lookup, SubstitutionError
from foredeck.pipeline.model import Step

if TYPE_CHECKING:
    from foredeck.execute.steps import Attempt

HOST_HELPERS = frozenset({COLLECT_STEP, *ARTIFACT_STEPS})
"""foredeck's own steps (image `COLLECT_IMAGE`): shell scripts written for the host."""
_UNSAFE_NAME = re.compile(r"[^a-zA-Z0-9_.-]+")


@dataclass(frozen=True)
class ContainerRun:
    """What a caller gives a run (`local.run_pipeline`) for its steps in containers."""

    config: PodmanConfig
    env: Mapping[str, str] = field(default_factory=dict)
    """Every container step's base environment (the job's Prow variables), under its own."""
    mounts: tuple[Mount, ...] = ()
    """More host directories to mount (the job's checkout at `/foredeck/src`)."""


class Containers:
    """One run's container steps (see the module docstring)."""

    def __init__(
        self, spec: ContainerRun, *, marker: str, run_name: str, note: Callable[[str], None]
    ) -> None:
        self.spec = spec
        self.config = spec.config
        self._note = note
        self._images: dict[str, asyncio.Future[str | None]] = {}
        self._started = 0
        self._kept: dict[str, tuple[PodFiles, MountPlan, str | None]] = {}
        safe = _UNSAFE_NAME.sub("-", run_name).strip("-.")[:40] or "run"
        self._prefix = f"foredeck-{safe}-{secrets.token_hex(3)}"
        self._labels = [*owner_labels(), f"--label={LABEL_RUN}={marker}"]
        self._podman_env = {os.fsencode(k): os.fsencode(v) for k, v in process_env().items()}
        self._base = dict(spec.env)
        for name in spec.config.pass_env:
            if name in os.environ:
                self._base.setdefault(name, os.environ[name])

    def describe(self) -> str:
        """One line for the run's log."""
        how = "in their images"
        if self.config.runtime == "auto":
            how += " when podman has them, else on the host"
        return f"steps with an image run {how} ({' '.join(self.config.command('run'))})"

    def applies(self, step: Step) -> bool:
        """Whether `step` may run in a container at all (with `auto`: if its image is there)."""
        if not self.config.uses_podman or not step.image:
            return False
        return not (step.name in HOST_HELPERS and step.image == COLLECT_IMAGE)

    async def any_wanted(self, steps: Iterable[Step], lookup: Lookup) -> bool:
        """Whether a container will run any of `steps` (a step whose image cannot be
        substituted counts as not: it fails when it starts)."""
        for step in steps:
            try:
                if await self.wanted(step, lookup):
                    return True
            except SubstitutionError:
                continue
        return False

    async def wanted(self, step: Step, lookup: Lookup) -> bool:
        """Whether `step` runs in a container (`auto` asks podman once per image and run)."""
        if not self.applies(step):
            return False
        if self.config.runtime == "podman":
            return True
        image = lookups.text(step.image, lookup)
        known = self._images.get(image)
        if known is None:
            pull = step_pull(step) or self.config.pull
            known = asyncio.ensure_future(
                asyncio.to_thread(image_problem, self.config, image, pull)
            )
            self._images[image] = known
            problem = await asyncio.shield(known)  # a cancelled step leaves the answer to others
            if problem is not None:
                self._note(f"steps of image {image} run on the host: {problem}")
        return await asyncio.shield(known) is None

    def launch(self, step: Step, attempt: Attempt, layout: RunLayout) -> Launch:
        """The `podman run` of `step` in `attempt`. Raises ValueError (a bad value) and
        SubstitutionError."""
        lookup = container_lookup(attempt.lookup)
        pod = attempt.pod
        extra = list(self.spec.mounts)
        if pod is not None:
            step = real_paths(step)
            extra += input_mounts(pod)
        plan = attempt_mounts(
            layout,
            workspaces=attempt.workspaces,
            artifacts=attempt.artifacts,
            results=attempt.results,
            steps_dir=attempt.steps_dir,
            pod_tmp=attempt.pod_tmp,
            extra=extra,
        )
        image = lookups.text(step.image, lookup)
        if not image or image.startswith("-"):
            raise ValueError(f"invalid image {image!r}")
        command, args = entrypoint(step, lookup, layout)
        values = {**self._base, "ARTIFACTS": ARTIFACTS_DIR}
        values.update({k: lookups.text(v, lookup) for k, v in step.env.items()})
        env = dict(self._podman_env)
        self._started += 1
        name = f"{self._prefix}-{self._started}"
        pod_tmp = None if attempt.pod_tmp is None else str(attempt.pod_tmp)
        keep = pod is not None and step.name == pod.main and bool(pod.to_copy(pod_tmp))
        argv = self.config.command("run", *([] if keep else ["--rm"]), f"--name={name}")
        argv += self._labels
        argv.append(f"--pull={step_pull(step) or self.config.pull}")
        served = attempt.served
        if served is not None and served.container is None and self.config.daemon_network:
            served.container = name  # the daemon's main step: at its own address
            argv += own_network(self.config.run_args, self.config.daemon_network)
        else:
            argv += self.config.run_args
        argv += self.config.tls_flags(image)
        argv += [*plan.flags(), *env_flags(values, env)]
        directory = working_dir(step, lookup, plan)
        if directory is not None:
            argv.append(f"--workdir={directory}")
        argv += limit_flags(step)
        if command is not None:
            argv.append(entrypoint_flag(command))
        argv += [image, *args]
        streams = (step.stdout_path, step.stderr_path)
        out, err = (_output(path, lookup, plan, directory) for path in streams)
        if keep and pod is not None:
            self._kept[name] = (pod, plan, pod_tmp)
        return Launch(argv, str(layout.work), env, (out, err), str(layout.work), container=name)

    async def ended(self, name: str, *, ran: bool, started: bool = True) -> None:
        """After the container `name`'s podman client returned (`ran`: it saw the container
        end; not `started`: podman did not start, there is no container): the outputs of a
        kept main container are copied out (`pod_files.py`), and a kept container, or one
        whose end the client did not see, is removed."""
        kept = self._kept.pop(name, None)
        if not started:
            return
        if kept is not None and ran:
            pod, plan, pod_tmp = kept
            try:
                problems = await asyncio.to_thread(copy_out, self.config, name, pod, plan, pod_tmp)
            except (OSError, PodmanError) as exc:
                problems = [str(exc)]
            for problem in problems:
                self._note(f"container {name}: output not copied: {problem}")
        if kept is not None or not ran:
            await self.stop(name)

    async def address(self, name: str) -> str | None:
        """The container `name`'s address on its network, None until it has one."""
        try:
            return await asyncio.to_thread(ip_address, self.config, name)
        except PodmanError:
            return None

    async def running(self, name: str) -> bool:
        """Whether the container `name` runs yet (a podman error counts as not yet)."""
        try:
            return await asyncio.to_thread(is_running, self.config, name)
        except PodmanError:
            return False

    async def stop(self, name: str) -> None:
        """Remove the container `name` (killed first); errors are logged, not raised."""
        try:
            await asyncio.shield(asyncio.to_thread(remove, self.config, name))
        except PodmanError as exc:
            self._note(f"container {name} could not be removed: {exc}")


def _output(path: str | None, lookup: Lookup, plan: MountPlan, cwd: str | None) -> str | None:
    """A `stdoutConfig`/`stderrConfig` path (a container path, as in a pod: relative to the
    working directory) as the host file it is in a mount. Raises ValueError outside them."""
    if path is None:
        return None
    text = lookups.text(path, lookup)
    if not text:
        return None
    full = posixpath.join(cwd or "/", text)
    host = plan.to_host(full)
    if host is None:
        raise ValueError(f"{text!r} is in no directory mounted from the run: cannot keep it")
    return host


def host_helper_view(step: Step, pod_tmp: Path) -> Step:
    """The `argo-outputs` step of an unsandboxed attempt, reading the attempt's shared `/tmp`
    (where its containers wrote) rather than the host's; any other step as it is."""
    outputs = parse_collector(step)
    if outputs is None:
        return step
    tmp = "/tmp"  # noqa: S108  (the containers' /tmp, found in `pod_tmp`)
    mapped = [
        replace(out, path=str(pod_tmp) + out.path[len(tmp) :])
        if out.path == tmp or out.path.startswith(tmp + "/")
        else out
        for out in outputs
    ]
    return replace(step, script=collector_script(mapped))
