"""Exit hooks of steps and dag tasks (`hooks.exit`, `onExit`), run by the local executor."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.emit import emit
from foredeck.pipeline.load import load_run
from foredeck.types import PipelineError
from tests.execute.helpers import task_log

DATA = Path(__file__).resolve().parents[1] / "data" / "argo-nested"

pytestmark = pytest.mark.timeout(60)


def run(name: str, tmp_path: Path) -> RunResult:
    spec = load_run([DATA / name])
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))


def statuses(result: RunResult) -> dict[str, str]:
    return {name: task.status for name, task in result.tasks.items()}


def test_hooks_run_per_item_after_failures_and_do_not_fail_their_step(tmp_path: Path) -> None:
    result = run("exit-hooks.yaml", tmp_path)
    assert result.status == "Failed"
    assert statuses(result) == {
        "each": "Succeeded",
        "each[0]": "Succeeded",
        "each[0].each": "Succeeded",
        "each[0].onExit": "Succeeded",
        "each[1]": "Succeeded",
        "each[1].each": "Succeeded",
        "each[1].onExit": "Succeeded",
        "quiet": "Succeeded",  # its hook failed: Argo ignores that
        "quiet.quiet": "Succeeded",
        "quiet.onExit": "Failed",
        "last": "Failed",
        "last.last": "Failed",
        "last.onExit": "Succeeded",  # runs although its step failed, and sees that
    }
    # each item's hook read that item's own output and status
    assert result.tasks["each[1].onExit"].results == {"seen": "Succeeded"}
    assert result.tasks["each[1].each"].results == {"text": "y"}
    assert result.tasks["last.onExit"].results == {"seen": "Failed"}
    # the step's outputs are still the caller's (aggregated over the loop)
    assert result.tasks["each"].results == {"text": ["x", "y"]}


def test_upstream_exit_handler_with_param_passes_the_step_output(tmp_path: Path) -> None:
    result = run("exit-handler-with-param.yaml", tmp_path)
    assert result.status == "Succeeded"
    assert statuses(result) == dict.fromkeys(
        ["step-1", "step-1.step-1", "step-1.onExit"], "Succeeded"
    )
    assert "hello world" in task_log(tmp_path / "out", "step-1.onExit")


def test_upstream_exit_handler_step_level_runs_a_hook_per_step(tmp_path: Path) -> None:
    result = run("exit-handler-step-level.yaml", tmp_path)
    assert result.status == "Succeeded"
    hooks = [name for name in result.tasks if name.endswith(".onExit")]
    assert hooks == ["hello1.onExit", "hello2a.onExit", "hello2b.onExit"]
    assert "step cleanup" in task_log(tmp_path / "out", "hello2b.onExit")
    first, second = result.tasks["hello1"], result.tasks["hello2a"]
    assert first.finished is not None and second.started is not None
    assert second.started >= first.finished  # the next steps wait for the hook too


def test_tekton_refuses_an_exit_hook() -> None:
    with pytest.raises(PipelineError, match="or an exit hook"):
        emit(load_run([DATA / "exit-hooks.yaml"]), "tekton")
