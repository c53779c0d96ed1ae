"""Files a Tekton step writes beside its process: its exit code, and its streams' copies.

`$(steps.step-<name>.exitCode.path)` is where a step's exit code is kept for the steps after
it (Tekton writes `/tekton/steps/step-<name>/exitCode`); the directory exists only for a task
that refers to such a path. `stdoutConfig.path`/`stderrConfig.path` receive a copy of the
stream (the build log still has it, as Tekton's log does), typically into a result file. A path
must stay inside the run's output: a step file cannot write over the host's files. A step's
`script` is run by its shebang's interpreter (`shebang`), on the host as in a container.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from foredeck.execute.workspace import RunLayout, dir_name
from foredeck.pipeline.model import TaskSpec

STEP_PATHS = "$(steps."


def uses_step_paths(spec: TaskSpec) -> bool:
    """Whether a step of `spec` refers to `$(steps.…)` (then exit codes are written)."""
    return any(STEP_PATHS in text for step in spec.steps for text in step.texts())


def exit_code_path(steps_dir: Path, name: str) -> Path:
    """Where `$(steps.<name>.exitCode.path)` points (`name` is `step-<step name>`)."""
    return steps_dir / dir_name(name) / "exitCode"


def record_exit_code(steps_dir: Path, step: str, code: int) -> None:
    """Write the exit code as Tekton does: a killed step counts as 128 + its signal."""
    path = exit_code_path(steps_dir, f"step-{step}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(code if code >= 0 else 128 - code))


def open_output(path: str, cwd: str, layout: RunLayout) -> BinaryIO:
    """The file a step's stream is copied to: `/workspace/...` maps onto the run's workspaces,
    a relative path is relative to the step's directory. Raises ValueError for a path outside
    the run's output directory."""
    if path == "/workspace" or path.startswith("/workspace/"):
        path = layout.workspaces_str + path[len("/workspace") :]
    full = os.path.normpath(os.path.join(cwd, path))
    root = os.path.normpath(layout.out_dir)
    if os.path.commonpath([full, root]) != root:
        raise ValueError(f"{path!r} is outside the run's directory: a host step cannot write it")
    Path(full).parent.mkdir(parents=True, exist_ok=True)
    return open(full, "wb")


def shebang(script: str) -> list[str] | None:
    """The interpreter and its one optional argument of a `#!` line, as the kernel reads them.

    The step runs `interpreter [arg] script` rather than exec-ing the script: exec fails with
    ETXTBSY while any process holds the file open for writing, and a child forked by another
    thread of this process (a git clone, a database driver) can hold the just-written script
    open for a moment. Reading it is never refused.

    `#!/usr/bin/env -S sh -x` (how an Argo script's multi-word `command` is kept) runs as
    `/usr/bin/env sh -x`: only GNU env knows `-S`, and busybox's (alpine's) would fail on it,
    where Argo runs `sh -x script` in any image. A `-S` string with quotes, escapes or
    variables is left to the env that reads it.
    """
    if not script.startswith("#!"):
        return None
    words = script[2:].split("\n", 1)[0].strip().split(None, 1)
    if len(words) == 2 and words[0].endswith("/env") and words[1].startswith("-S"):
        split = words[1][2:].split()
        if split and not any(c in words[1] for c in "\\'\"$#"):
            return [words[0], *split]
    return words or None
