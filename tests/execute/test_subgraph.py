"""Sub-graph calls run by the local executor: recursion expanded at run time, a depth limit
with a clear error, loops over sub-graphs with aggregated outputs, nested record names."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from foredeck.execute import subgraph
from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.load import load_run
from foredeck.pipeline.model import (
    Matrix,
    ParamSpec,
    Pipeline,
    PipelineResult,
    PipelineRunSpec,
    PipelineTask,
    ResultSpec,
    Step,
    TaskSpec,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "argo-nested"

pytestmark = pytest.mark.timeout(120)


def run(spec: PipelineRunSpec, tmp_path: Path) -> RunResult:
    return asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2))


def statuses(result: RunResult) -> dict[str, str]:
    return {name: task.status for name, task in result.tasks.items()}


def test_recursion_ends_when_the_data_says_so(tmp_path: Path) -> None:
    result = run(load_run([DATA / "recursion.yaml"], {"start": "3"}), tmp_path)
    assert result.status == "Succeeded"
    assert statuses(result) == {
        "count": "Succeeded",
        "count.dec": "Succeeded",
        "count.again": "Succeeded",
        "count.again.dec": "Succeeded",
        "count.again.again": "Succeeded",
        "count.again.again.dec": "Succeeded",
        "count.again.again.again": "Skipped",
        "count.again.again.done": "Succeeded",
        "count.again.done": "Skipped",
        "count.done": "Skipped",
    }
    # each level's output is its own decrement, passed up to its caller
    assert result.tasks["count"].results == {"seen": "2"}
    assert result.tasks["count.again"].results == {"seen": "1"}
    assert result.tasks["count.again.again.dec"].results == {"next": "0"}
    record = json.loads((tmp_path / "out" / "pipeline-run.json").read_text())
    assert "count.again.again.done" in json.dumps(record)
    # steps ran in the leaves' directories; a call has none of its own
    artifacts = {p.name for p in (tmp_path / "out" / "artifacts").iterdir()}
    assert "count.again.again.dec" in artifacts
    assert "count" not in artifacts


def test_recursion_past_the_depth_limit_fails_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subgraph, "MAX_GRAPH_DEPTH", 2)
    result = run(load_run([DATA / "recursion.yaml"], {"start": "5"}), tmp_path)
    assert result.status == "Failed"
    deepest = result.tasks["count.again.again"]
    assert deepest.status == "Failed"
    assert "sub-graph 'countdown' nests deeper than 2 levels" in deepest.reason
    # the failure climbs to every caller, naming the inner task
    assert result.tasks["count.again"].status == "Failed"
    assert result.tasks["count"].status == "Failed"
    assert "count.again: Failed" in result.tasks["count"].reason
    build_log = (tmp_path / "out" / "build-log.txt").read_text()
    assert "nests deeper than 2 levels" in build_log


def test_a_loop_over_a_sub_graph_aggregates_outputs_as_json_lists(tmp_path: Path) -> None:
    result = run(load_run([DATA / "loop-graph.yaml"]), tmp_path)
    assert result.status == "Succeeded"
    assert result.tasks["each"].instances == ["each[0]", "each[1]"]
    assert result.tasks["each[0]"].instances == ["each[0].first", "each[0].second"]
    assert result.tasks["each[1].second"].results == {"text": "b12"}
    assert result.tasks["seq"].results == {"text": ["n01", "n02", "n03"]}
    assert result.tasks["all"].results == {"text": '["a12","b12"] ["n01","n02","n03"]'}
    assert result.results == {"words": '["a12","b12"]'}


def _graph_pipeline(inner_script: str) -> PipelineRunSpec:
    """An IR pipeline whose task `call` runs the graph `g` (params `x`, result `r`)."""
    leaf = TaskSpec(
        "leaf",
        [Step("main", script=inner_script)],
        params=[ParamSpec("x")],
        results=[ResultSpec("r")],
    )
    graph = Pipeline(
        "g",
        tasks=[PipelineTask("inner", task_ref="leaf", params={"x": "$(params.x)"})],
        params=[ParamSpec("x")],
        results=[PipelineResult("r", "$(tasks.inner.results.r)")],
    )
    after = TaskSpec(
        "after", [Step("main", script="echo got $(params.v)")], params=[ParamSpec("v")]
    )
    root = Pipeline(
        "p",
        tasks=[
            PipelineTask("call", graph_ref="g", params={"x": "hi"}),
            PipelineTask("after", task_ref="after", params={"v": "$(tasks.call.results.r)"}),
        ],
        task_library={"leaf": leaf, "after": after},
    )
    root.graph_library = {"g": graph}
    graph.task_library, graph.graph_library = root.task_library, root.graph_library
    return PipelineRunSpec(root)


def test_an_ir_sub_graph_passes_its_result_to_the_callers_dependents(tmp_path: Path) -> None:
    spec = _graph_pipeline("printf '%s!' '$(params.x)' > $(results.r.path)")
    result = run(spec, tmp_path)
    assert statuses(result) == dict.fromkeys(["call", "call.inner", "after"], "Succeeded")
    assert result.tasks["call"].results == {"r": "hi!"}
    assert result.tasks["after"].run_after == ["call"]
    log = (tmp_path / "out" / "build-log.txt").read_text()
    assert "task call.inner: Succeeded" in log


def test_a_failing_sub_graph_fails_its_caller_and_skips_dependents(tmp_path: Path) -> None:
    result = run(_graph_pipeline("exit 3"), tmp_path)
    assert result.status == "Failed"
    assert statuses(result) == {"call": "Failed", "call.inner": "Failed", "after": "Skipped"}
    assert result.tasks["call"].reason.startswith("call.inner: Failed")


def test_with_param_loops_over_an_aggregated_output_at_run_time(tmp_path: Path) -> None:
    spec = load_run([DATA / "with-param-aggregate.yaml"])
    use = next(t for t in spec.pipeline.tasks if t.name == "use")
    assert use.matrix is not None
    assert use.matrix.params == {"text": "$(tasks.gen.results.text.json)"}
    result = run(spec, tmp_path)
    assert result.status == "Succeeded"
    assert result.tasks["use"].instances == ["use[0]", "use[1]"]
    assert result.tasks["use[1]"].params == {"text": "b"}


def test_loops_inside_two_calls_of_one_sub_graph_keep_their_names_apart(tmp_path: Path) -> None:
    leaf = TaskSpec(
        "leaf",
        [Step("main", script="printf '%s' '$(params.x)' > $(results.r.path)")],
        params=[ParamSpec("x")],
        results=[ResultSpec("r")],
    )
    graph = Pipeline(
        "g",
        tasks=[
            PipelineTask(
                "m",
                task_ref="leaf",
                matrix=Matrix(params={"x": ["$(params.v)-1", "$(params.v)-2"]}),
            )
        ],
        params=[ParamSpec("v")],
        results=[PipelineResult("all", "$(tasks.m.results.r.json)")],
    )
    root = Pipeline(
        "p",
        tasks=[
            PipelineTask("one", graph_ref="g", params={"v": "a"}),
            PipelineTask("two", graph_ref="g", params={"v": "b"}),
        ],
        task_library={"leaf": leaf},
        graph_library={"g": graph},
    )
    graph.task_library, graph.graph_library = root.task_library, root.graph_library
    result = run(PipelineRunSpec(root), tmp_path)
    assert result.status == "Succeeded"
    assert result.tasks["one.m"].instances == ["one.m[0]", "one.m[1]"]
    assert result.tasks["two.m[1]"].results == {"r": "b-2"}
    assert result.tasks["one"].results == {"all": '["a-1","a-2"]'}
    assert result.tasks["two"].results == {"all": '["b-1","b-2"]'}
