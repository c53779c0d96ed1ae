"""Task directories: made ahead of the tasks in a thread, and never twice."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.workspace import RunLayout
from foredeck.pipeline.model import PipelineRunSpec
from tests.execute.helpers import pipeline, task


def test_a_task_opens_the_directory_made_ahead_without_making_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = RunLayout(tmp_path / "out")
    layout.prepare()
    layout.precreate(["build", "test"]).thread.join(10)
    made: list[str] = []
    real_mkdir = os.mkdir

    def mkdir(path: str, *args: int) -> None:
        made.append(path)
        real_mkdir(path, *args)

    monkeypatch.setattr(os, "mkdir", mkdir)
    build = layout.open_task(layout.task_dir_name("build"))
    late = layout.open_task(layout.task_dir_name("late"))  # not made ahead: made now
    assert Path(build.artifacts).is_dir() and Path(late.artifacts).is_dir()
    assert made == [late.artifacts]


async def test_a_run_that_ends_early_leaves_no_thread_making_its_directories(
    tmp_path: Path,
) -> None:
    """The first task fails and stops the run; thousands of task directories were still to be
    made. The caller may remove or reuse the output folder as soon as the run returns (a test
    reusing one folder failed with "Directory not empty" while the thread went on)."""
    tasks = [task("t0", "exit 3")]
    tasks += [task(f"t{i}", "true", run_after=["t0"]) for i in range(1, 3000)]
    run = PipelineRunSpec(pipeline(*tasks), {}, name="r1")
    result = await run_pipeline(run, tmp_path / "out", parallel=1)
    assert result.status == "Failed"
    assert not [t for t in threading.enumerate() if t.name == "foredeck-precreate"]
    shutil.rmtree(tmp_path / "out")  # nothing is made in it after the run
    assert not (tmp_path / "out").exists()
