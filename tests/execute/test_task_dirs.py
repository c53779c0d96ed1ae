"""Task directories: made ahead of the tasks in a thread, and never twice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from foredeck.execute.workspace import RunLayout


def test_a_task_opens_the_directory_made_ahead_without_making_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = RunLayout(tmp_path / "out")
    layout.prepare()
    layout.precreate(["build", "test"]).join(10)
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
