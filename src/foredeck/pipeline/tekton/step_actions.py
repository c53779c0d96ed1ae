"""Tekton `StepAction`s (`tekton.dev/v1alpha1`, `v1beta1`) and the steps that run them (`ref`).

A StepAction is a step's work (image, command/args or script, env, workingDir,
securityContext) with params of its own. A step with `ref: {name: X}` runs StepAction X of the
same input, passing it `params` (`tasks.py` reads such a step). Steps are parsed first and
resolved once every document is read (`resolve`), so a StepAction may follow the Task that
uses it. How the params bind is
`pipeline/step_params.py`. Step results (`$(step.results.R.path)`, `$(steps.S.results.R)`)
are refused: the IR has task results only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from foredeck.pipeline.expressions import references
from foredeck.pipeline.model import ParamSpec, Pipeline, Step, TaskSpec
from foredeck.pipeline.step_params import own_scope
from foredeck.pipeline.tekton.fields import (
    check_fields,
    doc_spec,
    metadata_name,
    str_field,
    str_list,
)
from foredeck.pipeline.tekton.tasks import env_of, param_specs
from foredeck.types import UNKNOWN, PipelineError, Source
from foredeck.yamlsrc import SourceMap, plain

STEP_ACTION_APIS = ("tekton.dev/v1alpha1", "tekton.dev/v1beta1")

_SPEC_FIELDS = (
    "description",
    "image",
    "command",
    "args",
    "script",
    "env",
    "workingDir",
    "params",
    "results",
    "securityContext",
)


@dataclass
class StepAction:
    name: str
    image: str
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    script: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    params: list[ParamSpec] = field(default_factory=list)
    cluster: dict[str, Any] = field(default_factory=dict)
    source: Source = UNKNOWN


def parse_step_action(doc: SourceMap) -> StepAction:
    name = metadata_name(doc, "StepAction")
    what = f"StepAction {name!r}"
    spec = doc_spec(doc, "StepAction", name)
    check_fields(spec, _SPEC_FIELDS, what)
    script = str_field(spec, "script", what)
    command = str_list(spec, "command", what)
    if script is not None and command:
        raise PipelineError(spec.at("script"), f"{what}: 'script' cannot be used with 'command'")
    image = str_field(spec, "image", what)
    if not image:
        raise PipelineError(spec.source, f"{what}: missing required field 'image'")
    action = StepAction(name, image, source=doc.source)
    action.command = [own_scope(c) for c in command]
    action.args = [own_scope(a) for a in str_list(spec, "args", what)]
    action.script = None if script is None else own_scope(script)
    action.env = {k: own_scope(v) for k, v in env_of(spec, what).items()}
    working_dir = str_field(spec, "workingDir", what)
    action.working_dir = None if working_dir is None else own_scope(working_dir)
    action.params = param_specs(spec, what)
    if spec.get("securityContext") is not None:
        action.cluster["securityContext"] = plain(spec["securityContext"])
    _check_scope(action, spec, what)
    return action


def _check_scope(action: StepAction, spec: SourceMap, what: str) -> None:
    """A StepAction uses only the params it declares; step results are not supported."""
    declared = {p.name for p in action.params}
    texts = [action.image, *action.command, *action.args, *action.env.values()]
    texts += [t for t in (action.script, action.working_dir) if t is not None]
    for ref in references(texts):
        parts = ref.parts
        if parts[:2] == ["step", "params"] and (len(parts) < 3 or parts[2] not in declared):
            name = parts[2] if len(parts) > 2 else ""
            raise PipelineError(spec.source, f"{what}: $(params.{name}) is not declared")
        if parts[:2] == ["step", "results"]:
            why = f"{ref.text}: step results are not supported; write a Task result"
            raise PipelineError(spec.source, f"{what}: {why} ($(results.NAME.path))")


def resolve(steps: list[Step], actions: dict[str, StepAction]) -> None:
    """Fill the steps that refer to a StepAction (`Step.action`) with its fields."""
    for step in steps:
        if not step.action:
            continue
        action = actions.get(step.action)
        if action is None:
            known = ", ".join(sorted(actions)) or "none loaded"
            message = f"step {step.name!r}: ref names unknown StepAction {step.action!r}"
            raise PipelineError(step.source, f"{message} (loaded: {known})")
        declared = {p.name for p in action.params}
        extra = sorted(set(step.params) - declared)
        if extra:
            why = f"passes param {extra[0]!r}, which StepAction {action.name!r} does not declare"
            raise PipelineError(step.source, f"step {step.name!r}: {why}")
        step.image = action.image
        step.command = list(action.command)
        step.args = list(action.args)
        step.script = action.script
        step.env = {**step.env, **action.env}  # over the stepTemplate's
        step.working_dir = step.working_dir or action.working_dir
        step.action_params = list(action.params)
        step.cluster = {**step.cluster, **action.cluster}  # the action's securityContext wins


def task_specs(tasks: Iterable[TaskSpec], pipelines: Iterable[Pipeline]) -> Iterator[TaskSpec]:
    """Every task spec of the input: Tasks, and those inline in pipelines and their children."""
    yield from tasks
    seen: set[int] = set()
    stack = list(pipelines)
    while stack:
        pipeline = stack.pop()
        if id(pipeline) in seen:
            continue
        seen.add(id(pipeline))
        yield from (t.task_spec for t in pipeline.all_tasks() if t.task_spec is not None)
        stack.extend(pipeline.graph_library.values())
