"""One step as a `podman run`: its mounts, paths, environment, command and limits.

The run's directories are mounted where the cluster engines put them, so a step sees the same
paths in its image here as in a pod:

| host (the run's)              | container            |
| ----------------------------- | -------------------- |
| each task workspace `W`       | `/workspace/W`       |
| the attempt's results         | `/tekton/results`    |
| step exit codes               | `/tekton/steps`      |
| scripts (read-only)           | `/tekton/scripts`    |
| the task's `$ARTIFACTS`       | `/foredeck/artifacts` (as in a decorated pod) |
| the job's checkout            | `/foredeck/src` (as in a decorated pod) |
| the attempt's shared `/tmp`   | `/tmp`               |

`$(results.R.path)`, `$(workspaces.W.path)` and `$(steps.step-S.exitCode.path)` resolve to
those container paths; a host path that reached a step another way (the default working
directory is the checkout's host path) is translated through the same table.

As Kubernetes does: `command` replaces the image's entrypoint (and drops its CMD), `args`
replace the CMD; a step with neither runs the image's own. Values of environment variables
travel in podman's environment (`-e NAME`), never on its command line, where `ps` shows them;
only names podman itself reads (`PATH`, `HOME`, ... see `podman.PODMAN_ENV`) go as
`-e NAME=VALUE`. `resources.limits` become `--cpus`/`--memory`, `securityContext.runAsUser`
(and `runAsGroup`) `--user`, `imagePullPolicy` the step's `--pull`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from foredeck.execute import lookups
from foredeck.execute.podman import reserved
from foredeck.execute.step_files import shebang
from foredeck.execute.workspace import RunLayout, dir_name
from foredeck.pipeline.expressions import Lookup
from foredeck.pipeline.model import Step

WORKSPACE_ROOT = "/workspace"
RESULTS_DIR = "/tekton/results"
STEPS_DIR = "/tekton/steps"
SCRIPTS_DIR = "/tekton/scripts"
ARTIFACTS_DIR = "/foredeck/artifacts"  # as `execute/kube/decorate.py` mounts it in a pod
SRC_DIR = "/foredeck/src"  # the checkout, as in a decorated pod
TMP_DIR = "/tmp"  # noqa: S108  (the container's, bound to the attempt's shared directory)
EMPTY_DIR_MODE = 0o777
"""Results, exit codes and `$ARTIFACTS` are writable by any user, as a pod's emptyDir is: an
image may run as a user of its own (`USER`, `runAsUser`)."""
SHELL = ("/bin/sh", "-e")
"""A script without a shebang runs with this, as Tekton runs it."""

PULL_POLICY = {"Always": "always", "IfNotPresent": "missing", "Never": "never"}
"""A step's Kubernetes `imagePullPolicy` as podman's `--pull`."""
_ENV_NAME = re.compile(r"[^=\0*]+")
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?(?:[eE][0-9]+)?)([a-zA-Z]*)")
_MEMORY_UNITS = {
    "": 1,
    "m": 0.001,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "P": 1000**5,
    "E": 1000**6,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "Pi": 1024**5,
    "Ei": 1024**6,
}


@dataclass(frozen=True)
class Mount:
    """A host directory bound into the container."""

    host: str
    target: str
    readonly: bool = False

    def flag(self) -> str:
        """`--mount=...`; the fields are CSV (podman reads them so): quoted, any path works."""
        fields = ["type=bind", _csv(f"source={self.host}"), _csv(f"target={self.target}")]
        if self.readonly:
            fields.append("readonly")
        return "--mount=" + ",".join(fields)


def _csv(field: str) -> str:
    if "\n" in field or "\r" in field:
        raise ValueError(f"cannot mount a path with a line break: {field!r}")
    return '"' + field.replace('"', '""') + '"'


class MountPlan:
    """The mounts of one step, and the translation of paths between host and container."""

    def __init__(self, mounts: Sequence[Mount]) -> None:
        self.mounts = list(mounts)
        self._by_host = sorted(self.mounts, key=lambda m: -len(m.host))
        self._by_target = sorted(self.mounts, key=lambda m: -len(m.target))

    def flags(self) -> list[str]:
        return [mount.flag() for mount in self.mounts]

    def to_container(self, path: str) -> str | None:
        """The container path of host path `path`, None when no mount holds it."""
        for candidate in dict.fromkeys([os.path.normpath(path), os.path.realpath(path)]):
            for mount in self._by_host:
                if _below(candidate, mount.host):
                    return mount.target + candidate[len(mount.host) :]
        return None

    def to_host(self, path: str) -> str | None:
        """The host path of container path `path`, None when it is not in a mount."""
        path = os.path.normpath(path)
        for mount in self._by_target:
            if _below(path, mount.target):
                return mount.host + path[len(mount.target) :]
        return None


def _below(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def attempt_mounts(
    layout: RunLayout,
    *,
    workspaces: Mapping[str, Any],
    artifacts: str,
    results: os.PathLike[str] | None,
    steps_dir: os.PathLike[str] | None,
    pod_tmp: os.PathLike[str] | None,
    extra: Sequence[Mount] = (),
) -> MountPlan:
    """What every container of one task attempt mounts (see the module docstring)."""
    mounts = [
        Mount(os.path.realpath(path), f"{WORKSPACE_ROOT}/{dir_name(name)}")
        for name, path in workspaces.items()
        if path is not None
    ]
    own = [Mount(artifacts, ARTIFACTS_DIR)]
    if results is not None:
        own.append(Mount(os.fspath(results), RESULTS_DIR))
    if steps_dir is not None:
        os.makedirs(steps_dir, exist_ok=True)
        own.append(Mount(os.fspath(steps_dir), STEPS_DIR))
    for mount in own:
        os.chmod(mount.host, EMPTY_DIR_MODE)
    mounts += [*own, Mount(str(layout.scripts), SCRIPTS_DIR, readonly=True)]
    if pod_tmp is not None:
        mounts.append(Mount(os.fspath(pod_tmp), TMP_DIR))
    mounts.extend(extra)
    return MountPlan(mounts)


def container_lookup(lookup: Lookup) -> Lookup:
    """`lookup` with the run's paths as the container sees them."""

    def inner(path: str) -> Any:
        found = lookup(path)
        if not isinstance(found, str) or not found:
            return found
        root, _, rest = path.partition(".")
        name, _, attribute = rest.partition(".")
        if root == "results" and attribute == "path":
            return f"{RESULTS_DIR}/{dir_name(name)}"
        if root == "workspaces" and attribute == "path":
            return f"{WORKSPACE_ROOT}/{dir_name(name)}"
        if root == "steps" and attribute == "exitCode.path":
            return f"{STEPS_DIR}/{dir_name(name)}/exitCode"
        return found

    return inner


def entrypoint(step: Step, lookup: Lookup, layout: RunLayout) -> tuple[list[str] | None, list[str]]:
    """(what replaces the image's entrypoint, None: keep it; the arguments after the image)."""
    args = lookups.args(step.args, lookup)
    if step.script is not None:
        script = lookups.text(step.script, lookup)
        path = f"{SCRIPTS_DIR}/{os.path.basename(layout.script(script))}"
        return [*(shebang(script) or SHELL), path], args
    command = lookups.args(step.command, lookup)
    return (command or None), args


def working_dir(step: Step, lookup: Lookup, plan: MountPlan) -> str | None:
    """The step's directory in the container (None: the image's); one inside a mount is made
    on the host first, as Kubernetes makes a missing `workingDir`."""
    if not step.working_dir:
        return None
    directory = lookups.text(step.working_dir, lookup)
    if not directory.startswith("/"):
        directory = f"{WORKSPACE_ROOT}/{directory}"
    directory = plan.to_container(directory) or os.path.normpath(directory)
    host = plan.to_host(directory)
    if host is not None:
        os.makedirs(host, exist_ok=True)
    return directory


def env_flags(values: Mapping[str, str], podman_env: dict[bytes, bytes]) -> list[str]:
    """`-e NAME` flags for `values`, their values added to `podman_env` (podman's own
    environment); names podman reads itself go as `-e NAME=VALUE` (see the module docstring)."""
    flags: list[str] = []
    for name, value in values.items():
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"invalid environment variable name {name!r}")
        if reserved(name):
            flags.append(f"--env={name}={value}")
        else:
            flags.append(f"--env={name}")
            podman_env[os.fsencode(name)] = os.fsencode(value)
    return flags


def limit_flags(step: Step) -> list[str]:
    """`--cpus`, `--memory` and `--user` from the step's pod fields."""
    flags: list[str] = []
    resources = step.cluster.get("computeResources")
    limits = resources.get("limits") if isinstance(resources, dict) else None
    if isinstance(limits, dict):
        if limits.get("cpu") is not None:
            flags.append(f"--cpus={cpu_quantity(str(limits['cpu']))}")
        if limits.get("memory") is not None:
            flags.append(f"--memory={memory_quantity(str(limits['memory']))}b")
    security = step.cluster.get("securityContext")
    if isinstance(security, dict) and security.get("runAsUser") is not None:
        user = str(security["runAsUser"])
        group = security.get("runAsGroup")
        flags.append(f"--user={user}" + (f":{group}" if group is not None else ""))
    return flags


def step_pull(step: Step) -> str | None:
    """The step's `imagePullPolicy` as podman's `--pull` (None: it sets none)."""
    policy = step.cluster.get("imagePullPolicy")
    return PULL_POLICY.get(policy) if isinstance(policy, str) else None


def cpu_quantity(text: str) -> str:
    """A Kubernetes CPU quantity (`2`, `0.5`, `500m`) as podman's `--cpus`."""
    match = _QUANTITY.fullmatch(text.strip())
    if match is None or match.group(2) not in ("", "m"):
        raise ValueError(f"resources.limits.cpu {text!r} is not a CPU quantity")
    cores = float(match.group(1)) / (1000 if match.group(2) == "m" else 1)
    if cores <= 0:
        raise ValueError(f"resources.limits.cpu {text!r} must be more than 0")
    return f"{cores:g}"


def memory_quantity(text: str) -> int:
    """A Kubernetes memory quantity (`128Mi`, `1G`, `1e9`) in bytes."""
    match = _QUANTITY.fullmatch(text.strip())
    if match is None or match.group(2) not in _MEMORY_UNITS:
        raise ValueError(f"resources.limits.memory {text!r} is not a memory quantity")
    size = int(float(match.group(1)) * _MEMORY_UNITS[match.group(2)])
    if size <= 0:
        raise ValueError(f"resources.limits.memory {text!r} must be more than 0")
    return size


def entrypoint_flag(command: list[str]) -> str:
    """`--entrypoint` as a JSON array: each word stays one argument, whatever it holds."""
    return "--entrypoint=" + json.dumps(command)
