"""A step that runs a Tekton StepAction: its own params, bound when the step runs.

A StepAction sees only the params it declares, given by the step that refers to it (`params`,
written in the task's scope) or by its defaults. The front end writes the StepAction's fields
with those params as `$(step.params.NAME…)`, a scope apart from the task's `$(params…)`. As
Tekton does (`applyStepActionParameters`), the step's values are resolved in the task's scope
first, then replace the StepAction's references; an object's keys override its default's, one
by one, so a partial object keeps the default's other keys.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

from foredeck.pipeline.expressions import (
    SubstitutionError,
    iter_references,
    substitute,
    substitute_list,
)
from foredeck.pipeline.model import (
    ParamType,
    ParamValue,
    Pipeline,
    PipelineRunSpec,
    Step,
    TaskSpec,
    over_default,
)
from foredeck.types import PipelineError

SCOPE = "step.params"
_TASK_PARAMS = re.compile(r"(\$\(\s*)params(?=[.\[])")

Resolve = Callable[[ParamValue, ParamType], ParamValue]


def own_scope(text: str) -> str:
    """A StepAction's text with its `$(params.X)` written `$(step.params.X)`."""
    return _TASK_PARAMS.sub(r"\1" + SCOPE, text) if "params" in text else text


def values(step: Step, resolve: Resolve, *, as_text: bool = False) -> dict[str, ParamValue]:
    """The StepAction's params as the step binds them: the step's value (resolved in the task's
    scope by `resolve`, or kept as written with `as_text`) or the default; an object's keys
    over the default's."""
    out: dict[str, ParamValue] = {}
    for spec in step.action_params:
        given = step.params.get(spec.name)
        if given is None:
            if spec.default is None:
                why = f"param {spec.name!r} of StepAction {step.action!r} has no value"
                raise SubstitutionError(f"step {step.name!r}: {why}")
            value = spec.default
        else:
            value = resolve(given, spec.type)
        if isinstance(value, dict):
            value = over_default(value, spec.default)
        elif spec.type == "object" and isinstance(spec.default, dict) and not as_text:
            value = spec.default  # Tekton replaces an object's keys with an object's only
        out[spec.name] = value
    return out


def bind(step: Step, bound: Mapping[str, ParamValue]) -> Step:
    """`step` with `$(step.params…)` replaced by `bound` (other references stay as written)."""
    prefix = SCOPE + "."

    def lookup(path: str) -> ParamValue | None:
        return bound.get(path[len(prefix) :]) if path.startswith(prefix) else None

    def one(text: str) -> str:
        return substitute(text, lookup, strict=False)

    return replace(
        step,
        image=one(step.image),
        command=substitute_list(step.command, lookup, strict=False),
        args=substitute_list(step.args, lookup, strict=False),
        script=None if step.script is None else one(step.script),
        env={k: one(v) for k, v in step.env.items()},
        working_dir=None if step.working_dir is None else one(step.working_dir),
        action_params=[],
        params={},
    )


def bound_at_run(step: Step, resolve: Resolve) -> Step:
    """The step as it runs: its StepAction's params bound (a plain step is returned as is)."""
    if not step.action_params:
        return step
    return bind(step, values(step, resolve))


def inline(step: Step, where: str) -> Step:
    """The step with the StepAction's params replaced by what the step passes, as text in the
    task's scope (for an emitter that has no StepActions). An object passed by reference whose
    keys would merge with the StepAction's default at run time cannot be written so."""

    def as_written(given: ParamValue, _type: ParamType) -> ParamValue:
        return given

    bound = values(step, as_written, as_text=True)
    for spec in step.action_params:
        value = bound[spec.name]
        if spec.type != "object" or not isinstance(value, str):
            continue
        refs = list(iter_references(value))
        if len(refs) != 1 or not refs[0].star or value.strip() != refs[0].text:
            continue
        if isinstance(spec.default, dict) and spec.default:
            why = f"StepAction {step.action!r} object param {spec.name!r} is passed {value}, whose"
            why += " keys merge with the StepAction's default when the step runs: inlining it"
            why += " would lose the default's keys"
            raise PipelineError(step.source, f"{where} step {step.name!r}: {why}")
        base = refs[0].path  # `params.obj`: each key is `$(params.obj.KEY)`
        bound[spec.name] = {key: f"$({base}.{key})" for key in spec.properties}
    return bind(step, bound)


def inline_step_actions(run: PipelineRunSpec) -> PipelineRunSpec:
    """A copy of `run` whose StepAction steps are inlined (`inline`); `run` if it has none."""
    specs = list(_task_specs(run.pipeline))
    if not any(step.action_params for spec in specs for step in spec.steps):
        return run
    run = copy.deepcopy(run)
    for spec in _task_specs(run.pipeline):
        spec.steps = [
            inline(s, f"task {spec.name!r}") if s.action_params else s for s in spec.steps
        ]
    return run


def _task_specs(pipeline: Pipeline) -> Iterator[TaskSpec]:
    seen: set[int] = set()
    for graph in [pipeline, *pipeline.graph_library.values()]:
        specs = [*graph.task_library.values()]
        specs += [t.task_spec for t in graph.all_tasks() if t.task_spec is not None]
        for spec in specs:
            if id(spec) not in seen:
                seen.add(id(spec))
                yield spec
