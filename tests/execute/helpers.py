"""Builders for IR pipelines and checks on processes, shared by the executor tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import psutil
import pytest

from foredeck.pipeline.model import (
    Matrix,
    ParamSpec,
    ParamValue,
    Pipeline,
    PipelineResult,
    PipelineTask,
    ResultSpec,
    Step,
    TaskSpec,
    WhenExpression,
    WorkspaceDecl,
)
from foredeck.storage.tasklog import TASK_LOG_INDEX, read_task_log


def step(script: str, name: str = "main", timeout: float | None = None) -> Step:
    return Step(name=name, image="docker.io/library/busybox:1.36", script=script, timeout=timeout)


def task(
    name: str,
    script: str | None = None,
    *,
    steps: list[Step] | None = None,
    results: Iterable[str | ResultSpec] = (),
    task_params: Iterable[str] = (),
    params: dict[str, ParamValue] | None = None,
    run_after: Iterable[str] = (),
    when: Iterable[WhenExpression] = (),
    retries: int = 0,
    timeout: float | None = None,
    matrix: Matrix | None = None,
) -> PipelineTask:
    """A pipeline task with an inline spec of one script step (or the given steps)."""
    spec = TaskSpec(
        name=name,
        steps=steps if steps is not None else [step(script or "true")],
        params=[ParamSpec(p) for p in task_params],
        results=[r if isinstance(r, ResultSpec) else ResultSpec(r) for r in results],
    )
    return PipelineTask(
        name=name,
        task_spec=spec,
        params=params or {},
        run_after=list(run_after),
        when=list(when),
        retries=retries,
        timeout=timeout,
        matrix=matrix,
    )


def pipeline(
    *tasks: PipelineTask,
    finally_tasks: Iterable[PipelineTask] = (),
    params: Iterable[ParamSpec] = (),
    workspaces: Iterable[str] = (),
    results: Iterable[PipelineResult] = (),
    timeout: float | None = None,
    tasks_timeout: float | None = None,
    finally_timeout: float | None = None,
) -> Pipeline:
    return Pipeline(
        name="test",
        tasks=list(tasks),
        finally_tasks=list(finally_tasks),
        params=list(params),
        workspaces=[WorkspaceDecl(name) for name in workspaces],
        results=list(results),
        timeout=timeout,
        tasks_timeout=tasks_timeout,
        finally_timeout=finally_timeout,
    )


def task_log(out: Path, task_dir: str) -> str:
    """The log of task directory `task_dir` of the run in `out`, as the dashboard shows it."""
    return read_task_log(out, f"tasks/{task_dir}/{TASK_LOG_INDEX}").decode()


def alive(pid: int) -> bool:
    """True while `pid` is a live process (a zombie is dead: it only waits to be reaped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def survivors(pids: Iterable[int], wait: float = 3.0) -> list[int]:
    """The pids still alive after up to `wait` seconds (the kernel may need a moment)."""
    deadline = time.monotonic() + wait
    remaining = [pid for pid in pids if alive(pid)]
    while remaining and time.monotonic() < deadline:
        time.sleep(0.05)
        remaining = [pid for pid in remaining if alive(pid)]
    return remaining


def read_pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


def processes_in(directory: Path) -> list[psutil.Process]:
    """Live processes whose cwd or command line is inside `directory`."""
    root = str(directory.resolve())
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cwd = proc.info["cwd"] or ""
            cmdline = " ".join(proc.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if cwd.startswith(root) or root in cmdline:
            found.append(proc)
    return found


def lingering(directory: Path, wait: float = 3.0) -> list[psutil.Process]:
    """Processes still running in `directory` after up to `wait` seconds: works for sandboxed
    steps too, whose pids live in a namespace of their own."""
    deadline = time.monotonic() + wait
    found = processes_in(directory)
    while found and time.monotonic() < deadline:
        time.sleep(0.05)
        found = processes_in(directory)
    return found


def require_bwrap() -> str:
    """The bwrap binary, else the test is skipped saying why (failed in CI, which has it)."""
    found = shutil.which("bwrap")
    if found is None:
        message = "bubblewrap (bwrap) is not installed; .ci/run installs it"
        if os.environ.get("SANDBOX_TESTS_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def orphan(env: dict[str, str], cwd: Path) -> int:
    """A `sleep 300` in a session of its own whose parent has exited, as a dead run leaves it."""
    done = subprocess.run(
        ["setsid", "sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def kill_all(pids: Iterable[int]) -> None:
    """Test clean-up: SIGKILL whichever of `pids` still exist."""
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one instant."""
    events = sorted(
        [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
        key=lambda item: (item[0], item[1]),
    )
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best
