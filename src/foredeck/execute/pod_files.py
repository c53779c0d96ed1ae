"""An Argo task's files when its main step runs in a container: inputs in, outputs out.

On a host the Argo front end rewrites an artifact's container path (`/mnt/in/part.json`) to
the task's own folder in the run's artifact repository (`pod_root()`, `.pods/<pod>/mnt/...`),
where the `argo-artifacts-in`/`-out` host steps place and read it. In a container a step sees
the real Argo paths instead (the rewriting is undone in its text, as the Argo emitter undoes
it), and as Argo does around the main container:

- each input artifact the in-step placed in the pod folder is mounted at its path;
- after the main step's container ends, each output (output artifacts, and output parameters
  read from a file outside `/tmp`: `valueFrom.path: /output`) is copied out of it: from the
  host side of a mount when the path is in one, else with `podman cp` (the container is kept
  until then, as Argo's executor reads the stopped container). Artifacts land in the pod
  folder, where the out-step reads them; parameters in `/tmp/.foredeck-outputs/<path>` of
  the attempt, where the `argo-outputs` step reads them (`helper_paths`). A missing path is
  left missing (the helper steps apply `optional` and defaults).

The pod folder is in a workspace every container of the run may write, so a path that leads
out of it (`..`, a symlink a step left) is refused rather than followed: foredeck, not a
step, mounts and writes these files.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace

from foredeck.execute import lookups
from foredeck.execute.container_step import TMP_DIR, Mount, MountPlan
from foredeck.execute.podman import PodmanConfig
from foredeck.pipeline.artifacts import IN_STEP, OUT_STEP, REPOSITORY_PATH, pod_root
from foredeck.pipeline.collector import COLLECT_STEP, collector_script, parse_collector
from foredeck.pipeline.expressions import Lookup
from foredeck.pipeline.model import Step

COPIED = f"{TMP_DIR}/.foredeck-outputs"
"""Where output parameters copied out of a container are, in the attempt's `/tmp`."""
_HELPERS = (IN_STEP, OUT_STEP, COLLECT_STEP)


@dataclass(frozen=True)
class PodFiles:
    """One attempt's Argo files (see the module docstring)."""

    main: str
    """The step whose container the outputs are read from (Argo's main container)."""
    root: str | None
    """The pod folder on the host (None: the task has no artifacts)."""
    repository: str | None
    """The run's artifact repository on the host, which holds `root`."""
    inputs: tuple[str, ...] = ()
    """Container paths of input artifacts in the pod folder."""
    artifacts: tuple[str, ...] = ()
    """Container paths of output artifacts kept in the pod folder."""
    parameters: tuple[str, ...] = ()
    """Container paths outside `/tmp` output parameters are read from."""

    def to_copy(self, pod_tmp: str | None) -> list[tuple[str, str, str]]:
        """(container path, host destination, the folder it must stay in) of every output to
        copy out; parameters need the attempt's `/tmp` on the host (`pod_tmp`)."""
        pairs = []
        if self.root is not None and self.repository is not None:
            pairs = [(p, f"{self.root}{p}", self.repository) for p in self.artifacts]
        if pod_tmp is not None:
            copied = pod_tmp + COPIED[len(TMP_DIR) :]
            pairs += [(p, f"{copied}{p}", pod_tmp) for p in self.parameters]
        return pairs


def pod_files(steps: Sequence[Step], lookup: Lookup) -> PodFiles | None:
    """The files of an Argo task's steps (None: no artifacts and no file outputs outside
    `/tmp`). Raises SubstitutionError when the pod folder cannot be named."""
    by_name = {step.name: step for step in steps}
    names = [s.name for s in steps if s.name not in _HELPERS and not s.init]
    if not names:
        return None
    main = "main" if "main" in names else names[-1]
    prefix = pod_root()
    root = repository = None
    inputs: list[str] = []
    artifacts: list[str] = []
    if IN_STEP in by_name:
        root = lookups.text(prefix, lookup)
        repository = lookups.text(REPOSITORY_PATH, lookup)
        inputs = _paths(by_name[IN_STEP], prefix)
        artifacts = _paths(by_name.get(OUT_STEP), prefix)
    outputs = parse_collector(by_name[COLLECT_STEP]) if COLLECT_STEP in by_name else None
    parameters = [
        out.path
        for out in outputs or []
        if posixpath.isabs(out.path) and not _below(out.path, TMP_DIR) and "$(" not in out.path
    ]
    if root is None and not parameters:
        return None
    return PodFiles(main, root, repository, tuple(inputs), tuple(artifacts), tuple(parameters))


def _paths(step: Step | None, prefix: str) -> list[str]:
    """The container paths an artifact step's `ARGO_ARTIFACT_<i>_PATH` values name in the pod
    folder (one in a workspace is left: the step sees that workspace mounted)."""
    if step is None:
        return []
    return [
        value[len(prefix) :]
        for name, value in step.env.items()
        if name.startswith("ARGO_ARTIFACT_") and name.endswith("_PATH") and "_OUT_" not in name
        if value.startswith(prefix + "/")
    ]


def real_paths(step: Step) -> Step:
    """`step` with the artifact paths as Argo gives them (the pod folder's prefix removed)."""
    prefix = pod_root()

    def real(text: str) -> str:
        return text.replace(prefix, "")

    return replace(
        step,
        command=[real(t) for t in step.command],
        args=[real(t) for t in step.args],
        script=None if step.script is None else real(step.script),
        env={k: real(v) for k, v in step.env.items()},
        working_dir=None if step.working_dir is None else real(step.working_dir),
    )


def input_mounts(pod: PodFiles) -> list[Mount]:
    """A mount at its path of each input artifact the in-step placed (a missing optional
    one is not mounted: the path is absent, as in Argo). Raises ValueError for a path that
    leads out of the repository."""
    if pod.root is None or pod.repository is None:
        return []
    mounts = []
    for path in pod.inputs:
        host = pod.root + path
        if not os.path.lexists(host):
            continue
        if not _inside(host, pod.repository):
            raise ValueError(f"input artifact path {path!r} leads out of the pod folder")
        mounts.append(Mount(os.path.realpath(host), path))
    return mounts


def copy_out(
    config: PodmanConfig, container: str, pod: PodFiles, plan: MountPlan, pod_tmp: str | None
) -> list[str]:
    """Copy the outputs of the ended `container` (see the module docstring); returns what
    could not be copied for another reason than a missing path, for the log."""
    problems: list[str] = []
    for path, dest, base in pod.to_copy(pod_tmp):
        if not _inside(os.path.dirname(dest), base):
            problems.append(f"{path}: leads out of the pod folder")
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if not _inside(os.path.dirname(dest), base):
            problems.append(f"{path}: leads out of the pod folder")
            continue
        host = plan.to_host(path)
        if host is not None and os.path.realpath(host) == os.path.realpath(dest):
            continue  # written through a mount of the pod folder (in an input's directory)
        _clear(dest)
        if host is not None:
            if os.path.isdir(host):
                shutil.copytree(host, dest, symlinks=True)
            elif os.path.lexists(host):
                shutil.copy2(host, dest, follow_symlinks=False)
            continue
        copied = config.call("cp", f"{container}:{path}", dest)
        if copied.returncode != 0 and "no such file" not in copied.stderr.lower():
            problems.append(f"{path}: {copied.stderr.strip()}")
    return problems


def _clear(dest: str) -> None:
    """Make way for a copy (a symlink is removed, never followed)."""
    if os.path.isdir(dest) and not os.path.islink(dest):
        shutil.rmtree(dest)
    elif os.path.lexists(dest):
        os.unlink(dest)


def _inside(path: str, base: str) -> bool:
    """Whether `path`, its symlinks resolved, is in `base` (resolved too)."""
    return _below(os.path.realpath(path), os.path.realpath(base))


def _below(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def helper_paths(step: Step, pod: PodFiles | None) -> Step:
    """The `argo-outputs` step reading copied parameters where `copy_out` put them."""
    outputs = parse_collector(step) if pod is not None and pod.parameters else None
    if pod is None or outputs is None:
        return step
    mapped = [
        replace(out, path=COPIED + out.path) if out.path in pod.parameters else out
        for out in outputs
    ]
    return replace(step, script=collector_script(mapped))
