"""Argo templates that call templates at run time: recursion and loops over dag/steps
templates become sub-graph nodes (`graph_ref`), `withSequence` loops, aggregated outputs.

Most dag/steps calls are still inlined into the flat DAG (the other Argo tests hold that); these
test what inlining cannot express, and that Argo -> IR -> Argo keeps it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from foredeck.pipeline.emit import emit, manifest
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import PipelineError
from tests.pipeline.test_argo_roundtrip import normal_form
from tests.pipeline.test_emit import argo_validator, schema_errors

DATA = Path(__file__).resolve().parents[1] / "data" / "argo-nested"
SAMPLES = sorted(DATA.glob("*.yaml"))
GRAPH_SAMPLES = [DATA / "recursion.yaml", DATA / "loop-graph.yaml"]


def load_text(text: str) -> PipelineRunSpec:
    return load_pipeline_text(text, "wf.yaml")


def full_form(run: PipelineRunSpec) -> dict[str, Any]:
    """The round trip's normal form of the pipeline and of each sub-graph, with the calls."""
    p = run.pipeline
    graphs = {name: normal_form(PipelineRunSpec(graph)) for name, graph in p.graph_library.items()}
    calls = {t.name: t.graph_ref for t in p.all_tasks()}
    for graph in p.graph_library.values():
        calls |= {f"{graph.name}/{t.name}": t.graph_ref for t in graph.tasks}
    return {"root": normal_form(run), "graphs": graphs, "calls": calls}


def test_a_recursive_template_is_one_sub_graph_that_calls_itself() -> None:
    p = load_run([DATA / "recursion.yaml"]).pipeline
    assert [(t.name, t.graph_ref) for t in p.tasks] == [("count", "countdown")]
    assert p.tasks[0].params == {"n": "$(params.start)"}
    graph = p.graph_library["countdown"]
    assert [(t.name, t.graph_ref) for t in graph.tasks] == [
        ("dec", None),
        ("again", "countdown"),
        ("done", None),
    ]
    assert [p.name for p in graph.params] == ["n"]
    assert [(r.name, r.value) for r in graph.results] == [("seen", "$(tasks.dec.results.next)")]
    again = graph.tasks[1]
    assert again.run_after == ["dec"]
    assert [(w.input, w.operator, w.values) for w in again.when] == [
        ("$(tasks.dec.results.next)", "notin", ["0"])
    ]


def test_a_loop_over_a_steps_template_is_a_looped_sub_graph_call() -> None:
    p = load_run([DATA / "loop-graph.yaml"]).pipeline
    each = next(t for t in p.tasks if t.name == "each")
    assert each.graph_ref == "twice"
    assert each.matrix is not None and each.matrix.params == {"word": ["a", "b"]}
    assert [t.name for t in p.graph_library["twice"].tasks] == ["first", "second"]
    # the looped outputs are read as a JSON list
    everything = next(t for t in p.tasks if t.name == "all")
    assert everything.params["text"] == (
        "$(tasks.each.results.out.json) $(tasks.seq.results.text.json)"
    )
    assert [(r.name, r.value) for r in p.results] == [("words", "$(tasks.each.results.out.json)")]


def test_a_dag_template_called_once_without_a_loop_is_still_inlined() -> None:
    p = load_run([DATA.parent / "argo" / "steps-params.yaml"]).pipeline
    assert p.graph_library == {}
    assert all(t.graph_ref is None for t in p.tasks)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_argo_to_argo_keeps_sub_graphs_and_is_stable(path: Path) -> None:
    run = load_run([path])
    text = emit(run, "argo")
    back = load_text(text)
    assert full_form(back) == full_form(run)
    assert emit(back, "argo") == text


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_emitted_sub_graph_templates_validate_against_the_argo_schema(path: Path) -> None:
    doc = manifest(load_run([path]), "argo")
    assert schema_errors(argo_validator(), doc) == []
    names = [t["name"] for t in doc["spec"]["templates"]]
    assert len(names) == len(set(names))


def test_a_recursive_template_emits_a_template_that_calls_itself() -> None:
    doc = manifest(load_run([DATA / "recursion.yaml"]), "argo")
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    tasks = {t["name"]: t for t in templates["countdown"]["dag"]["tasks"]}
    assert tasks["again"]["template"] == "countdown"
    assert tasks["again"]["arguments"]["parameters"] == [
        {"name": "n", "value": "{{tasks.dec.outputs.parameters.next}}"}
    ]
    assert tasks["dec"]["arguments"]["parameters"] == [
        {"name": "n", "value": "{{inputs.parameters.n}}"}
    ]
    assert templates["countdown"]["inputs"] == {"parameters": [{"name": "n"}]}


@pytest.mark.parametrize("path", GRAPH_SAMPLES, ids=lambda p: p.name)
def test_tekton_refuses_a_sub_graph_naming_the_call(path: Path) -> None:
    run = load_run([path])
    with pytest.raises(PipelineError, match=r"calls '(countdown|twice)': Tekton cannot run"):
        emit(run, "tekton")


WF = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: seq}}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: s
            template: echo
            arguments: {{parameters: [{{name: m, value: "{{{{item}}}}"}}]}}
            withSequence: {seq}
    - name: echo
      inputs: {{parameters: [{{name: m}}]}}
      container: {{image: alpine, command: [echo, "{{{{inputs.parameters.m}}}}"]}}
"""


@pytest.mark.parametrize(
    ("seq", "items"),
    [
        ('{count: "3"}', ["0", "1", "2"]),
        ('{start: "100", end: "103"}', ["100", "101", "102", "103"]),
        ('{start: "2", end: "0"}', ["2", "1", "0"]),
        ('{count: "2", start: "10", format: "user%02X"}', ["user0A", "user0B"]),
        ('{count: "0"}', []),
    ],
)
def test_with_sequence_unrolls_as_argo_counts(seq: str, items: list[str]) -> None:
    task = load_text(WF.format(seq=seq)).pipeline.tasks[0]
    assert task.matrix is not None and task.matrix.params == {"m": items}


@pytest.mark.parametrize(
    ("seq", "message"),
    [
        ('{start: "1"}', "needs either `count` or `end`"),
        ('{count: "2", end: "3"}', "needs either `count` or `end`"),
        ('{count: "x"}', "count must be an integer"),
        ('{count: "2", format: "%s"}', "format needs one integer verb"),
        ('{count: "20000"}', "over the limit"),
        ('{count: "n{{workflow.name}}"}', "an integer or one value known at run time"),
    ],
)
def test_bad_with_sequence_is_an_error_naming_the_line(seq: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as err:
        load_text(WF.format(seq=seq))
    assert str(err.value).startswith("wf.yaml:")


def test_with_sequence_and_with_items_together_are_refused() -> None:
    text = WF.format(seq='{count: "2"}').replace(
        "withSequence:", "withItems: [a]\n            withSequence:"
    )
    with pytest.raises(PipelineError, match="use one of withItems, withParam, withSequence"):
        load_text(text)


def test_a_loop_whose_arguments_ignore_the_item_runs_once_per_item() -> None:
    text = WF.format(seq='{count: "3"}').replace('value: "{{item}}"', "value: same")
    run = load_text(text)
    task = run.pipeline.tasks[0]
    assert task.matrix is not None and task.matrix.include == [{}, {}, {}]
    assert task.params == {"m": "same"}
    back = load_text(emit(run, "argo"))
    assert back.pipeline.tasks[0].matrix == task.matrix
    with pytest.raises(PipelineError, match="ignore the item has no Tekton matrix equal"):
        emit(run, "tekton")
