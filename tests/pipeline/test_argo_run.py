"""Argo workflow shapes run by the local executor, with the outcome Argo would give each node.

Images are recorded, not pulled: the steps are portable shell run on this machine. Outputs go
through files on a `volumeClaimTemplates` volume (a per-run workspace directory), not `/tmp`,
because concurrent tasks on one host share `/tmp` where pods would not.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.load import load_run
from foredeck.pipeline.model import ParamValue

DATA = Path(__file__).resolve().parents[1] / "data" / "argo"

pytestmark = pytest.mark.timeout(60)


def run(name: str, tmp_path: Path, params: dict[str, ParamValue] | None = None) -> RunResult:
    spec = load_run([DATA / name], params or {})
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))


def statuses(result: RunResult) -> dict[str, str]:
    return {name: task.status for name, task in result.tasks.items()}


def test_dag_diamond(tmp_path: Path) -> None:
    result = run("dag-diamond.yaml", tmp_path)
    assert result.status == "Succeeded"
    assert statuses(result) == dict.fromkeys("ABCD", "Succeeded")
    assert result.tasks["B"].results == {"text": "hello-b"}
    assert result.tasks["C"].results == {"text": "hello-c"}
    assert result.tasks["D"].results == {"text": "hello-b+hello-c"}
    assert result.results == {"final": "hello-b+hello-c"}
    assert result.tasks["D"].started is not None and result.tasks["B"].finished is not None
    assert result.tasks["D"].started >= result.tasks["B"].finished
    # the run record on disk says the same
    record = json.loads((tmp_path / "out" / "pipeline-run.json").read_text())
    assert "hello-b+hello-c" in json.dumps(record)


@pytest.mark.parametrize(
    ("coin", "expected"),
    [
        (
            "heads",
            {"param-heads-or-edge": "Succeeded", "param-not-tails": "Succeeded"}
            | {"param-tails": "Skipped"},
        ),
        (
            "tails",
            {"param-heads-or-edge": "Skipped", "param-not-tails": "Skipped"}
            | {"param-tails": "Succeeded"},
        ),
    ],
)
def test_conditionals(tmp_path: Path, coin: str, expected: dict[str, str]) -> None:
    result = run("conditionals.yaml", tmp_path, {"coin": coin})
    assert result.status == "Succeeded"
    # `flip` always writes "tails": the guards on its output decide at run time
    assert result.tasks["flip"].results == {"side": "tails"}
    assert statuses(result) == {
        "flip": "Succeeded",
        "heads": "Skipped",
        "tails": "Succeeded",
        **expected,
    }


def test_retries_until_success(tmp_path: Path) -> None:
    result = run("retries.yaml", tmp_path)
    assert result.status == "Succeeded"
    assert statuses(result) == {"flaky": "Succeeded", "after": "Succeeded"}
    assert result.tasks["flaky"].attempts == 2


def test_retries_exhausted(tmp_path: Path) -> None:
    result = run("retries.yaml", tmp_path, {"fail-until": "9"})
    assert result.status == "Failed"
    assert statuses(result) == {"flaky": "Failed", "after": "Skipped"}
    assert result.tasks["flaky"].attempts == 4  # limit 3: the first try and three retries


def test_exit_handler_runs_after_a_failure(tmp_path: Path) -> None:
    result = run("exit-handler.yaml", tmp_path)
    assert result.status == "Failed"
    assert statuses(result) == {
        "intentional-fail": "Failed",
        "notify": "Succeeded",
        "celebrate": "Skipped",
        "cry": "Succeeded",
    }
    assert result.tasks["notify"].results == {"status": "Failed"}
    assert all(result.tasks[name].is_finally for name in ("notify", "celebrate", "cry"))


def test_loops_over_items_maps_and_a_previous_output(tmp_path: Path) -> None:
    result = run("loops.yaml", tmp_path)
    assert result.status == "Succeeded"
    assert all(status == "Succeeded" for status in statuses(result).values())
    instances = {
        name: [result.tasks[i].params for i in result.tasks[name].instances]
        for name in ("scalars", "maps", "each")
    }
    assert instances == {
        "scalars": [{"value": "item-1"}, {"value": "item-2"}, {"value": "item-3"}],
        "maps": [{"image": "debian", "tag": "9.1"}, {"image": "alpine", "tag": "3.6"}],
        "each": [{"value": "x"}, {"value": "y"}],
    }
    assert result.tasks["gen"].results == {"list": ["x", "y"]}


def test_parameters_pass_between_steps(tmp_path: Path) -> None:
    result = run("steps-params.yaml", tmp_path, {"who": "argo"})
    assert result.status == "Succeeded"
    assert {name: task.results for name, task in result.tasks.items()} == {
        "generate": {"text": "hello argo"},
        "consume": {"text": "got: hello argo"},
        "inner-upper": {"text": "HELLO ARGO"},
        "last": {"text": "HELLO ARGO!"},
    }


def test_template_deadline_times_the_task_out(tmp_path: Path) -> None:
    result = run("deadline.yaml", tmp_path)
    assert result.status == "Failed"
    assert statuses(result) == {"slow": "TimedOut"}
    duration = result.tasks["slow"].duration
    assert duration is not None and duration < 10
