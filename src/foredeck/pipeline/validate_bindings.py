"""Checks of what a pipeline task binds for its spec: params, matrix, `when` guards, workspaces.

These need both sides, the spec's declarations and the pipeline's scope (`validate_scope.py`),
and run only for tasks whose spec is known and after the dependency graph has no cycle.
"""

from __future__ import annotations

import json

from foredeck.pipeline.expressions import references
from foredeck.pipeline.model import (
    ParamSpec,
    ParamValue,
    Pipeline,
    PipelineTask,
    TaskSpec,
    value_type,
)
from foredeck.pipeline.validate_report import each, report
from foredeck.pipeline.validate_scope import Scope
from foredeck.types import PipelineError, Source


def _is_whole_star(value: str) -> bool:
    refs = references(value)
    return len(refs) == 1 and refs[0].star and value.strip() == refs[0].text


def check_binding(pipeline: Pipeline, scope: Scope, task: PipelineTask, in_finally: bool) -> None:
    """What a pipeline task binds for its spec: params, matrix, guards, workspaces."""
    group = "finally task" if in_finally else "task"
    what = f"{group} {task.name!r}"
    source = task.source
    spec = pipeline.spec_of(task)
    if task.retries < 0:
        report(PipelineError(source, f"{what}: retries must not be negative ({task.retries})"))
    if task.timeout is not None and task.timeout < 0:
        report(PipelineError(source, f"{what}: negative timeout"))
    _check_params(scope, task, spec, what, in_finally)
    matrix_names = _check_matrix(scope, task, spec, what, in_finally)
    for param in spec.params:
        supplied = param.name in task.params or param.name in matrix_names
        if param.default is None and not supplied:
            report(
                PipelineError(
                    source,
                    f"{what}: required param {param.name!r} of task {spec.name!r}"
                    f" (declared at {param.source}) is not supplied",
                )
            )
    for when in task.when:
        with each():
            if when.operator not in ("in", "notin"):
                raise PipelineError(when.source, f"{what}: when operator {when.operator!r}")
            if not when.values:
                raise PipelineError(when.source, f"{what}: when 'values' must not be empty")
            scope.check(when.input, when.source, f"{what} when", task, in_finally)
            scope.check(when.values, when.source, f"{what} when", task, in_finally)
    _check_workspaces(scope, task, spec, what)


def _check_params(
    scope: Scope, task: PipelineTask, spec: TaskSpec, what: str, in_finally: bool
) -> None:
    declared: dict[str, ParamSpec] = {p.name: p for p in spec.params}
    source = task.source
    for name, value in task.params.items():
        with each():
            if name not in declared:
                raise PipelineError(
                    source,
                    f"{what} passes param {name!r}, which task {spec.name!r} does not declare",
                )
            expected = declared[name].type
            actual = value_type(value)
            lone_star = isinstance(value, str) and _is_whole_star(value)
            if scope.lone_type(value) == expected:
                actual = expected  # `$(tasks.T.results.list)`: the whole array, as Tekton passes it
            if actual != expected and not (lone_star and expected != "string"):
                raise PipelineError(
                    source, f"{what}: param {name!r} is {expected} but is given a {actual} value"
                )
            check_value(declared[name], value, source, what)
            scope.check(value, source, f"{what} param {name!r}", task, in_finally)


def _check_matrix(
    scope: Scope, task: PipelineTask, spec: TaskSpec, what: str, in_finally: bool
) -> set[str]:
    """The params the task's matrix supplies (checked)."""
    matrix_names: set[str] = set()
    if task.matrix is None:
        return matrix_names
    declared = {p.name for p in spec.params}
    source = task.source
    for name, values in task.matrix.params.items():
        matrix_names.add(name)  # supplied, even when its values are wrong
        with each():
            if name in task.params:
                raise PipelineError(
                    source, f"{what}: param {name!r} is in both 'params' and 'matrix'"
                )
            if name not in declared:
                raise PipelineError(
                    source, f"{what}: matrix param {name!r} is not declared by {spec.name!r}"
                )
            if isinstance(values, str) and not references(values):
                try:
                    parsed = json.loads(values)
                except ValueError:
                    parsed = None
                if not isinstance(parsed, list):
                    raise PipelineError(
                        source,
                        f"{what}: matrix param {name!r} must be an array or an array expression",
                    )
            scope.check(values, source, f"{what} matrix param {name!r}", task, in_finally)
    for guards in task.matrix.include_when.values():
        for when in guards:
            with each():
                scope.check(
                    when.input, when.source, f"{what} matrix include when", task, in_finally
                )
                scope.check(
                    when.values, when.source, f"{what} matrix include when", task, in_finally
                )
    for include in task.matrix.include:
        for name, value in include.items():
            matrix_names.add(name)
            with each():
                if name not in declared:
                    raise PipelineError(
                        source, f"{what}: matrix include param {name!r} is not declared"
                    )
                scope.check(value, source, f"{what} matrix include {name!r}", task, in_finally)
    if task.matrix.items is not None:
        scope.check(task.matrix.items, source, f"{what} matrix items", task, in_finally)
        for name in task.matrix.item_params:
            if name not in declared:
                message = f"{what}: matrix item param {name!r} is not declared"
                report(PipelineError(source, message))
            matrix_names.add(name)
    return matrix_names


def _check_workspaces(scope: Scope, task: PipelineTask, spec: TaskSpec, what: str) -> None:
    source = task.source
    task_ws = {w.name: w for w in spec.workspaces}
    for inner, sub_path in task.workspace_sub_paths.items():
        scope.check(sub_path, source, f"{what} workspace {inner!r} subPath", task, False)
    for inner, outer in task.workspaces.items():
        if inner not in task_ws:
            message = f"{what}: binds workspace {inner!r} that {spec.name!r} does not declare"
            report(PipelineError(source, message))
        elif outer not in scope.workspaces:
            message = f"{what}: workspace {inner!r} binds undeclared pipeline workspace {outer!r}"
            report(PipelineError(source, message))
    # A sub-graph call sees the caller's workspaces of the same name (model.PipelineTask).
    implicit = scope.workspaces if task.graph_ref is not None else set()
    for decl in spec.workspaces:
        if not decl.optional and decl.name not in {*task.workspaces, *spec.empty_dirs, *implicit}:
            message = f"{what}: required workspace {decl.name!r} of {spec.name!r} is not bound"
            report(PipelineError(source, message))


def check_value(param: ParamSpec, value: ParamValue, source: Source, what: str) -> None:
    """A literal value against its param's `enum` and object `properties` (references are
    checked when they are resolved)."""
    literal = isinstance(value, str) and not references(value)
    if param.enum and literal and value not in param.enum:
        raise PipelineError(
            source,
            f"{what}: param {param.name!r} is {value!r}, not one of {', '.join(param.enum)}",
        )
    if param.properties and isinstance(value, dict):
        default = param.default if isinstance(param.default, dict) else {}
        missing = [k for k in param.properties if k not in value and k not in default]
        if missing:
            raise PipelineError(
                source, f"{what}: object param {param.name!r} lacks keys {', '.join(missing)}"
            )
