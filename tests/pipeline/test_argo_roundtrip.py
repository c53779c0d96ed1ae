"""Round trips through the emitters keep a pipeline's semantics.

Tekton -> IR -> Argo -> IR and Argo -> IR -> Tekton -> IR (and each format back to itself) must
give the same DAG, params and their values, `when`, retries, timeouts, finally tasks, matrices
and steps. The comparison is on a normal form of the IR that erases what the formats may
legitimately spell differently (step names, a `notin` written as one test or two, the extra
`Completed` status Argo folds into `Succeeded`, ...).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from foredeck.pipeline.emit import EmitFormat, emit
from foredeck.pipeline.load import load_pipeline_text, load_run
from foredeck.pipeline.model import Matrix, Pipeline, PipelineRunSpec, PipelineTask, TaskSpec
from foredeck.pipeline.predicates import AllOf, Is, done, render, tasks_of
from foredeck.pipeline.validate import dependencies

DATA = Path(__file__).resolve().parents[1] / "data" / "argo"
ARGO_SAMPLES = sorted(p for p in DATA.glob("*.yaml") if not p.name.startswith("tekton"))
TEKTON_SAMPLES = sorted(DATA.glob("tekton*.yaml"))


def _matrix(matrix: Matrix | None) -> Any:
    if matrix is None:
        return None
    if any(isinstance(v, str) for v in matrix.params.values()):
        return {"runtime": dict(matrix.params), "include": matrix.include}
    names = list(matrix.params)
    axes = [matrix.params[n] for n in names]
    rows = [dict(zip(names, c, strict=True)) for c in itertools.product(*axes)] if names else []
    rows += matrix.include
    return sorted(sorted(row.items()) for row in rows)


def _when(task: PipelineTask) -> list[Any]:
    merged: dict[tuple[str, str], set[str]] = {}
    for w in task.when:
        values = set(w.values)
        if w.input == "$(tasks.status)" and "Succeeded" in values:
            values.add("Completed")  # Argo has one "Succeeded" for both
        key = (w.input, w.operator)
        if w.operator == "notin":
            merged[key] = merged.get(key, set()) | values  # notin a && notin b == notin [a, b]
        else:
            merged[key] = merged[key] & values if key in merged else values
    return sorted((k[0], k[1], sorted(v)) for k, v in merged.items())


def _spec(spec: TaskSpec, task: PipelineTask) -> dict[str, Any]:
    steps = []
    for step in spec.steps:
        program: Any = step.script if step.script is not None else [*step.command, *step.args]
        steps.append((step.image, program, sorted(step.env.items()), step.working_dir))
    return {
        "params": sorted((p.name, p.type, p.default) for p in spec.params),
        # Argo declares stdout and exit-code results on every container (implicit outputs)
        "results": sorted((r.name, r.type) for r in spec.results if r.value_from == "file"),
        "workspaces": sorted(w.name for w in spec.workspaces),
        "steps": steps,
    }


def _depends(p: Pipeline, task: PipelineTask, tekton: bool) -> str | None:
    """Tekton has no predicates: there a conjunction of `A` and `A.Succeeded` (of a task A
    without guards) is the default rule, None."""
    if task.depends is None:
        return None
    if tekton:
        whens = {t.name: t.when for t in p.all_tasks()}
        terms = task.depends.operands if isinstance(task.depends, AllOf) else (task.depends,)
        plain = [
            (isinstance(t, Is) and t.outcome == "Succeeded" and not whens[t.task])
            or t == done(tasks_of(t)[0])
            for t in terms
        ]
        if all(plain):
            return None
    return render(task.depends)


def _timeout(spec: TaskSpec, task: PipelineTask) -> float | None:
    """Per attempt; a single step's own timeout is the task's in effect."""
    limits = [task.timeout]
    if len(spec.steps) == 1:
        limits.append(spec.steps[0].timeout)
    present = [t for t in limits if t]
    return min(present) if present else None


def normal_form(run: PipelineRunSpec, lower: bool = False) -> dict[str, Any]:
    """`lower`: compare task names as Tekton must spell them (DNS labels: `A` is `a`)."""
    p: Pipeline = run.pipeline
    graph = dependencies(p)

    def name(n: str) -> str:
        return n.lower() if lower else n

    def task(t: PipelineTask) -> dict[str, Any]:
        spec = p.spec_of(t)
        return {
            "after": sorted(name(n) for n in graph[t.name]),
            "params": sorted(t.params.items()),
            "when": _when(t),
            "retries": t.retries,
            "timeout": _timeout(spec, t),
            "matrix": _matrix(t.matrix),
            "workspaces": sorted(t.workspaces.items()),
            "spec": _spec(spec, t),
            "depends": _depends(p, t, lower),
            "continue_on": sorted(t.continue_on),
        }

    form = {
        "params": sorted(
            (x.name, x.type, run.params.get(x.name, x.default), x.description) for x in p.params
        ),
        "workspaces": sorted(w.name for w in p.workspaces),
        "results": sorted((r.name, r.value) for r in p.results),
        "timeout": p.timeout,
        "tasks": {name(t.name): task(t) for t in p.tasks},
        "finally": {name(t.name): task(t) for t in p.finally_tasks},
    }
    return _lower_refs(form) if lower else form


def _lower_refs(value: Any) -> Any:
    """`$(tasks.A.results.x)` as `$(tasks.a.results.x)`, everywhere in a normal form."""
    if isinstance(value, str):
        return re.sub(r"\$\(tasks\.([^.()]+)\.", lambda m: f"$(tasks.{m.group(1).lower()}.", value)
    if isinstance(value, dict):
        return {k: _lower_refs(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_lower_refs(v) for v in value)
    return value


def through(run: PipelineRunSpec, fmt: EmitFormat) -> PipelineRunSpec:
    """Emit `run` as `fmt` and load the manifest back with the matching front end."""
    return load_pipeline_text(emit(run, fmt), f"emitted-{fmt}.yaml")


@pytest.mark.parametrize("path", ARGO_SAMPLES, ids=lambda p: p.name)
def test_argo_to_tekton_to_ir_keeps_semantics(path: Path) -> None:
    run = load_run([path])
    back = through(run, "tekton")
    assert normal_form(back, lower=True) == normal_form(run, lower=True)


@pytest.mark.parametrize("path", ARGO_SAMPLES, ids=lambda p: p.name)
def test_argo_to_argo_keeps_semantics_and_is_stable(path: Path) -> None:
    run = load_run([path])
    back = through(run, "argo")
    assert normal_form(back) == normal_form(run)
    assert emit(back, "argo") == emit(run, "argo")


@pytest.mark.parametrize("path", TEKTON_SAMPLES, ids=lambda p: p.name)
def test_tekton_to_argo_to_ir_keeps_semantics(path: Path) -> None:
    run = load_run([path])
    back = through(run, "argo")
    assert normal_form(back) == normal_form(run)
    # and once more: Argo -> IR -> Argo is a fixed point
    assert emit(through(back, "argo"), "argo") == emit(back, "argo")


@pytest.mark.parametrize("path", TEKTON_SAMPLES, ids=lambda p: p.name)
def test_tekton_to_tekton_keeps_semantics(path: Path) -> None:
    run = load_run([path])
    assert normal_form(through(run, "tekton")) == normal_form(run)


def test_the_normal_form_sees_differences() -> None:
    """A round trip that lost a retry, a guard or an edge would be caught."""
    run = load_run([DATA / "tekton-ci.yaml"])
    before = normal_form(run)
    for change in (
        lambda p: setattr(p.tasks[0], "retries", 0),
        lambda p: p.tasks[1].when.clear(),
        lambda p: p.tasks[2].run_after.clear(),
        lambda p: setattr(p.finally_tasks[0], "params", {}),
        lambda p: setattr(p.tasks[3], "matrix", None),
    ):
        copy = load_run([DATA / "tekton-ci.yaml"])
        change(copy.pipeline)
        assert normal_form(copy) != before
