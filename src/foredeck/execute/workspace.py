"""The directory layout of one local run.

```
OUT/started.json finished.json pipeline-run.json build-log.txt   (Prow's layout)
OUT/artifacts/<task>/          $ARTIFACTS of each task (junit*.xml anywhere below)
OUT/.work/tmp/                 $TMPDIR of the run's steps: concurrent runs never share a temp dir
OUT/.work/home/                $HOME of the run's steps, unless the caller gives one
OUT/.work/emptydirs/<task>/    workspaces a task declares and the pipeline does not bind
OUT/tasks/<task>/log.index     each task's log: its stretches of build-log.txt (from its first line)
OUT/.work/workspaces/<W>/      $(workspaces.W.path); the root is every step's default cwd
                               (a workspace bound to a directory: a symlink to it)
OUT/.work/results/<task>.<n>/  $(results.R.path) of attempt n (tasks with results only)
OUT/.work/scripts/<sha>        step scripts, written once per distinct content
OUT/.work/steps/<task>.<n>/    step exit codes of attempt n (tasks using `$(steps.…)` only)
```

`.work` is scratch: an artifact upload should skip it (it holds checkouts and build trees).
Names from user files become directory names only through `dir_name()`, so a task called
`../x` cannot write outside the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from foredeck.execute.logs import LogIndex
from foredeck.storage import prow
from foredeck.storage.tasklog import TASK_LOG_INDEX

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_INSTANCE = re.compile(r"\[(\d+)\]$")
SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


WorkspaceFill = Callable[[Path], None]
"""Fills a workspace's fresh, empty directory before the first task (a copy of a checkout)."""
WorkspaceBinding = Path | WorkspaceFill
"""What a caller gives a pipeline workspace: a directory used as it is, or a fill."""


class OutputDirError(ValueError):
    """The output directory cannot be used (not empty and not an earlier run)."""


def dir_name(name: str) -> str:
    """A directory name for a task name: `build[0]` becomes `build-0`, unsafe characters `_`."""
    safe = _UNSAFE.sub("_", _INSTANCE.sub(r"-\1", name))
    if safe in ("", ".", ".."):
        safe = "_" + safe
    return safe


def sub_directory(root: Path, sub_path: str) -> Path:
    """A workspace binding's `subPath` inside `root`; one that would leave it is refused
    (ValueError), as Kubernetes refuses an absolute or `..` subPath."""
    parts = [part for part in sub_path.split("/") if part not in ("", ".")]
    if sub_path.startswith("/") or ".." in parts:
        raise ValueError(f"workspace subPath {sub_path!r} must be a relative path inside it")
    return root.joinpath(*parts)


@dataclass
class TaskFiles:
    """A task's own directories and open log; made in a worker thread (see `open_task`)."""

    artifacts: str
    log: LogIndex


@dataclass(frozen=True)
class Precreating:
    """`RunLayout.precreate`'s thread: `join` stops it where it is and waits for it."""

    thread: threading.Thread
    stop: threading.Event

    def join(self) -> None:
        self.stop.set()
        self.thread.join()


class RunLayout:
    def __init__(self, out_dir: Path, *, shared: bool = False) -> None:
        """`shared`: steps run as another user, who must be able to read the scripts."""
        self.out_dir = out_dir
        self.artifacts = out_dir / prow.ARTIFACTS_DIR
        self.tasks = out_dir / "tasks"
        self.work = out_dir / ".work"
        self.workspaces = self.work / "workspaces"
        self.results = self.work / "results"
        self.scripts = self.work / "scripts"
        self.tmp = self.work / "tmp"
        self.home = self.work / "home"
        self.emptydirs = self.work / "emptydirs"
        self._script_mode = 0o755 if shared else 0o700
        self.build_log = out_dir / prow.BUILD_LOG
        self.run_json = out_dir / prow.PIPELINE_RUN
        self._tasks_str = str(self.tasks)
        self._artifacts_str = str(self.artifacts)
        self.workspaces_str = str(self.workspaces)
        self._scripts: dict[str, str] = {}
        self._used_names: dict[str, str] = {}
        self._taken: set[str] = set()
        self._made: set[str] = set()  # artifacts directories `precreate` has made
        self.bindings: dict[str, WorkspaceBinding] = {}
        self._bound: dict[str, Path] = {}

    def bind(self, bindings: Mapping[str, WorkspaceBinding]) -> None:
        """Pipeline workspaces the caller provides, set up by `prepare` (`bind_workspaces`)."""
        self.bindings = dict(bindings)
        self._bound = {
            name: Path(os.path.abspath(target))
            for name, target in self.bindings.items()
            if isinstance(target, Path)
        }

    def prepare(self) -> None:
        """Create the layout. An earlier run in the same directory is replaced; a non-empty
        directory without one is refused, so a mistyped `--out` cannot delete user files."""
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise OutputDirError(f"{out}: not a directory")
        if out.is_dir() and any(out.iterdir()):
            if not (out / prow.STARTED).is_file():
                raise OutputDirError(f"{out}: directory is not empty and holds no earlier run")
            self._remove_earlier_run()
        for path in (
            self.artifacts,
            self.tasks,
            self.workspaces,
            self.results,
            self.scripts,
            self.tmp,
            self.home,
            self.emptydirs,
        ):
            path.mkdir(parents=True, exist_ok=True)
        self.bind_workspaces()

    def bind_workspaces(self) -> None:
        """A directory binding becomes a symlink `workspaces/<W>` to it, so `/workspace/W/...`
        and relative `workingDir`s reach it too, and `$(workspaces.W.path)` is the directory;
        a fill gets the fresh directory `workspaces/<W>` to populate."""
        for name, target in self.bindings.items():
            link = self.workspaces / dir_name(name)
            if isinstance(target, Path):
                link.symlink_to(self._bound[name], target_is_directory=True)
            else:
                link.mkdir()
                target(link)

    def _remove_earlier_run(self) -> None:
        """Only the entries a run writes: files a user added beside them stay."""
        for path in (self.artifacts, self.tasks, self.work):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
        for name in (prow.STARTED, prow.FINISHED, prow.BUILD_LOG, prow.PIPELINE_RUN):
            (self.out_dir / name).unlink(missing_ok=True)

    def task_dir_name(self, task: str) -> str:
        """A unique directory name per task name (two names could sanitise to the same)."""
        known = self._used_names.get(task)
        if known is not None:
            return known
        base = candidate = dir_name(task)
        counter = 1
        while candidate in self._taken:
            counter += 1
            candidate = f"{base}-{counter}"
        self._used_names[task] = candidate
        self._taken.add(candidate)
        return candidate

    def precreate(self, tasks: Sequence[str]) -> Precreating:
        """Create the `artifacts/<task>/` of `tasks` in a thread, ahead of the tasks.

        A short task's cost is mostly file-system calls on a slow disk (a mkdir took ~150 us
        on the development VM's ext4); made here, they overlap with running tasks instead of
        delaying each start. `open_task` still creates a directory the thread has not reached.
        Directory names are allocated now, in pipeline order, so they do not depend on timing.
        """
        paths = [os.path.join(self._artifacts_str, self.task_dir_name(t)) for t in tasks]
        stop = threading.Event()

        def make() -> None:
            for path in paths:
                if stop.is_set():
                    return
                with contextlib.suppress(FileExistsError):
                    os.mkdir(path)
                self._made.add(path)

        thread = threading.Thread(target=make, name="foredeck-precreate", daemon=True)
        thread.start()
        return Precreating(thread, stop)

    def open_task(self, dir_name: str) -> TaskFiles:
        """Create `artifacts/<task>/` (unless `precreate` did); the task's log index comes
        with its first line, so a silent task pays for no log directory."""
        artifacts = os.path.join(self._artifacts_str, dir_name)
        if artifacts not in self._made:  # a failed mkdir costs as much as a made one
            with contextlib.suppress(FileExistsError):
                os.mkdir(artifacts)
        return TaskFiles(artifacts, self.task_log(dir_name))

    def task_log(self, dir_name: str) -> LogIndex:
        """`tasks/<task>/log.index`, created by the task's first line."""
        return LogIndex(os.path.join(self._tasks_str, dir_name, TASK_LOG_INDEX))

    def task_log_rel(self, dir_name: str) -> str:
        """The task log's path in the run's output, as `pipeline-run.json` records it."""
        return f"tasks/{dir_name}/{TASK_LOG_INDEX}"

    def bound_dirs(self) -> list[Path]:
        """The directories the caller bound workspaces to (outside the run's directory)."""
        return list(self._bound.values())

    def is_bound(self, name: str) -> bool:
        """Whether the caller bound pipeline workspace `name` to a directory (`--workspace`)."""
        return name in self._bound

    def workspace(self, name: str) -> Path:
        """The directory of pipeline workspace `name` (the bound directory, if any)."""
        return self._bound.get(name) or self.workspaces / dir_name(name)

    def steps_dir(self, dname: str, attempt: int) -> Path:
        """`.work/steps/<task>.<n>/`: the exit codes of an attempt's steps (`step_files.py`)."""
        return self.work / "steps" / f"{dname}.{attempt}"

    def script(self, content: str) -> str:
        """The path of a script file holding `content`, written on first use only."""
        known = self._scripts.get(content)
        if known is not None:
            return known
        digest = hashlib.sha256(content.encode()).hexdigest()[:24]
        path = self.scripts / digest
        tmp = path.with_suffix(".tmp")
        tmp.write_text(content)
        os.chmod(tmp, self._script_mode)
        os.replace(tmp, path)
        self._scripts[content] = str(path)
        return str(path)
