"""Semantic checks on the IR, shared by every front end, run before anything executes.

A pipeline that passes `validate()` can be run by the executor without an unresolvable reference
or an impossible ordering: every `$(...)` it uses names something that exists and, for task
results, something that has finished by then. Validation goes on past a problem and reports every
one it finds (a `PipelineErrors` of them), in a fixed order (declarations, task specs, then
pipeline tasks in declaration order), so one run names every mistake of a file and the same
input always reports the same errors. A check that depends on another's outcome (the bindings of
a task whose spec is unknown, anything after a dependency cycle) is skipped rather than repeating
it. The checks raise `PipelineError`; `_each()` around one item of a loop records the error and
goes on with the next item while `validate()` collects, and lets it through otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from foredeck.pipeline import workflow_vars
from foredeck.pipeline.errors import raise_all
from foredeck.pipeline.expressions import Reference, references
from foredeck.pipeline.model import (
    ParamSpec,
    ParamValue,
    Pipeline,
    PipelineTask,
    TaskSpec,
    value_type,
)
from foredeck.pipeline.predicates import render, tasks_of
from foredeck.types import PipelineError, Source

_PIPELINE_CONTEXT = frozenset(
    {
        "context.pipelineRun.name",
        "context.pipelineRun.namespace",
        "context.pipelineRun.uid",
        "context.pipeline.name",
        "context.pipelineTask.retries",
    }
)
_TASK_CONTEXT = frozenset(
    {
        "context.taskRun.name",
        "context.taskRun.namespace",
        "context.taskRun.uid",
        "context.task.name",
        "context.task.retry-count",
        *_PIPELINE_CONTEXT,
    }
)
_WORKSPACE_VARS = frozenset({"path", "bound", "claim", "volume"})
TEKTON_CONTEXT = _TASK_CONTEXT
"""Every `$(context.*)` Tekton documents; it leaves any other `$(context.…)` as written."""


# --- dependencies ---


def task_references(task: PipelineTask) -> list[Reference]:
    """Every `$(...)` in what the pipeline binds for a task (params, when, matrix)."""
    refs: list[Reference] = []
    for value in task.params.values():
        refs.extend(references(value))
    for when in task.when:
        refs.extend(references(when.input))
        refs.extend(references(when.values))
    if task.matrix is not None:
        for values in task.matrix.params.values():
            refs.extend(references(values))
        for include in task.matrix.include:
            refs.extend(references(include))
        if task.matrix.items is not None:
            refs.extend(references(task.matrix.items))
    for when in task.item_when:
        refs.extend(references([when.input, *when.values]))
    return refs


def _result_task(ref: Reference) -> str | None:
    """The task whose results (or matrix lengths) `ref` reads: it must have finished."""
    parts = ref.parts
    if len(parts) >= 3 and parts[0] == "tasks" and parts[2] in ("results", "matrix"):
        return parts[1]
    return None


def dependencies(pipeline: Pipeline) -> dict[str, set[str]]:
    """Per task (DAG and finally), the tasks it must wait for: `runAfter` plus every task whose
    results it references in params, `when` or matrix (Tekton orders those implicitly).

    Only edges inside the task's own group count: DAG tasks wait on DAG tasks, finally tasks on
    finally tasks; the finally phase as a whole starts after the DAG.
    """
    graph: dict[str, set[str]] = {}
    for group in (pipeline.tasks, pipeline.finally_tasks):
        names = {task.name for task in group}
        for task in group:
            edges = {name for name in task.run_after if name in names}
            if task.depends is not None:
                edges.update(name for name in tasks_of(task.depends) if name in names)
            for ref in task_references(task):
                target = _result_task(ref)
                if target is not None and target in names:
                    edges.add(target)
            edges.discard(task.name)
            graph[task.name] = edges
    return graph


def results_read(pipeline: Pipeline) -> dict[str, set[str]]:
    """Per task, the results some task or pipeline result reads (stdout is kept for these)."""
    refs = [ref for task in pipeline.all_tasks() for ref in task_references(task)]
    for result in pipeline.results:
        refs.extend(references(result.value))
    read: dict[str, set[str]] = {}
    for ref in refs:
        parts = ref.parts
        if len(parts) >= 4 and parts[0] == "tasks" and parts[2] == "results":
            read.setdefault(parts[1], set()).add(parts[3])
    return read


def upstream(graph: Mapping[str, set[str]], name: str) -> set[str]:
    """Every task `name` transitively waits for."""
    seen: set[str] = set()
    stack = list(graph.get(name, ()))
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph.get(current, ()))
    return seen


def find_cycle(tasks: list[PipelineTask], graph: Mapping[str, set[str]]) -> list[str] | None:
    """The first cycle in declaration order, as `[a, b, ..., a]`, or None."""
    order = {task.name: i for i, task in enumerate(tasks)}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in sorted(graph.get(name, ()), key=lambda n: order.get(n, len(order))):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for task in tasks:
        if task.name not in state:
            found = visit(task.name)
            if found:
                return found
    return None


# --- helpers ---

_FOUND: ContextVar[list[PipelineError] | None] = ContextVar("validate_found", default=None)
"""The errors `validate()` has collected so far; None outside it (errors are then raised)."""


def _report(error: PipelineError) -> None:
    found = _FOUND.get()
    if found is None:
        raise error
    found.append(error)


@contextmanager
def _each() -> Iterator[None]:
    """One independent check: its error is recorded and the caller goes on with the next."""
    try:
        yield
    except PipelineError as error:
        _report(error)


def _duplicates(items: Iterable[tuple[str, Source]], what: str, owner: str = "") -> None:
    seen: set[str] = set()
    prefix = f"{owner}: " if owner else ""
    for name, source in items:
        if name in seen:
            _report(PipelineError(source, f"{prefix}duplicate {what} {name!r}"))
        seen.add(name)


def _is_whole_star(value: str) -> bool:
    refs = references(value)
    return len(refs) == 1 and refs[0].star and value.strip() == refs[0].text


# --- task specs ---


def _check_task_spec(spec: TaskSpec, where: str) -> None:
    _duplicates(((p.name, p.source) for p in spec.params), "param", where)
    _duplicates(((r.name, r.source) for r in spec.results), "result", where)
    _duplicates(((w.name, w.source) for w in spec.workspaces), "workspace", where)
    if not spec.steps:
        _report(PipelineError(spec.source, f"{where} has no steps"))
    _duplicates(((s.name, s.source) for s in spec.steps), "step name", where)
    params = {p.name for p in spec.params}
    results = {r.name for r in spec.results if r.value_from == "file"}
    _check_captured_results(spec, where)
    workspaces = {w.name for w in spec.workspaces}
    for step in spec.steps:
        swhat = f"{where} step {step.name!r}"
        if step.timeout is not None and step.timeout < 0:
            _report(PipelineError(step.source, f"{swhat}: negative timeout"))
        for ref in references(step.texts()):
            with _each():
                parts = ref.parts
                root = parts[0]
                if root == "params":
                    if len(parts) < 2 or parts[1] not in params:
                        raise PipelineError(
                            step.source,
                            f"{swhat}: {ref.text} refers to a param {where} does not declare",
                        )
                elif root == "results":
                    if len(parts) != 3 or parts[2] != "path":
                        raise PipelineError(
                            step.source, f"{swhat}: unsupported reference {ref.text}"
                        )
                    if parts[1] not in results:
                        raise PipelineError(
                            step.source,
                            f"{swhat}: {ref.text} refers to undeclared result {parts[1]!r}",
                        )
                elif root == "workspaces":
                    if len(parts) != 3 or parts[2] not in _WORKSPACE_VARS:
                        raise PipelineError(
                            step.source, f"{swhat}: unsupported reference {ref.text}"
                        )
                    if parts[1] not in workspaces:
                        raise PipelineError(
                            step.source,
                            f"{swhat}: {ref.text} refers to undeclared workspace {parts[1]!r}",
                        )
                elif root == "context":
                    pass  # an undocumented `$(context.…)` is left as written, as Tekton does
                elif root == "steps":
                    _check_step_ref(ref, spec, step.source, swhat)
                elif root == "tasks":
                    raise PipelineError(
                        step.source,
                        f"{swhat}: {ref.text} cannot be used inside a task's steps;"
                        " pass it to the task as a param",
                    )
                # Anything else (`$(date)` in a script) is not a pipeline variable.


def _check_step_ref(ref: Reference, spec: TaskSpec, source: Source, what: str) -> None:
    """`$(steps.step-<name>.exitCode.path)`, the one step variable a host run resolves."""
    parts = ref.parts
    if len(parts) != 4 or parts[2:] != ["exitCode", "path"] or not parts[1].startswith("step-"):
        raise PipelineError(source, f"{what}: unsupported reference {ref.text}")
    if parts[1][len("step-") :] not in {s.name for s in spec.steps}:
        raise PipelineError(source, f"{what}: {ref.text} refers to no step of {spec.name!r}")


def _check_captured_results(spec: TaskSpec, where: str) -> None:
    """A stdout or exit-code result names a step of the task, and has no file to write."""
    steps = {step.name for step in spec.steps}
    for result in spec.results:
        if result.value_from not in ("file", "stdout", "exit-code"):
            message = f"{where}: result {result.name!r}: unknown value_from {result.value_from!r}"
            raise PipelineError(result.source, message)
        if result.value_from != "file" and result.step is not None and result.step not in steps:
            message = f"{where}: result {result.name!r} reads step {result.step!r}, not a step"
            raise PipelineError(result.source, message)
    captured = {r.name: r.value_from for r in spec.results if r.value_from != "file"}
    for step in spec.steps if captured else []:
        for ref in references(step.texts()):
            parts = ref.parts
            if parts[0] == "results" and len(parts) == 3 and parts[1] in captured:
                what = "standard output" if captured[parts[1]] == "stdout" else "exit code"
                message = f"{where} step {step.name!r}: {ref.text}: result {parts[1]!r} is "
                message += f"a step's {what}, not a file to write"
                raise PipelineError(step.source, message)


# --- pipeline-level references ---


@dataclass(frozen=True)
class _Site:
    """Where a pipeline-level value is written: for an error's position and text, and for what
    it may refer to (`task` is None for pipeline results)."""

    source: Source
    what: str
    task: PipelineTask | None
    in_finally: bool


class _Scope:
    """What a pipeline-level value may refer to, and from which task."""

    def __init__(self, pipeline: Pipeline, graph: Mapping[str, set[str]]) -> None:
        self.pipeline = pipeline
        self.graph = graph
        self.params = {p.name for p in pipeline.params}
        self.workspaces = {w.name for w in pipeline.workspaces}
        self.dag = {t.name: t for t in pipeline.tasks}
        self.final = {t.name: t for t in pipeline.finally_tasks}

    def check(
        self,
        value: ParamValue | None,
        source: Source,
        what: str,
        task: PipelineTask | None,
        in_finally: bool,
    ) -> None:
        """`task` is None for pipeline results (which may read any task's results)."""
        site = _Site(source, what, task, in_finally)
        for ref in references(value):
            self._check_ref(ref, site)

    def _check_ref(self, ref: Reference, site: _Site) -> None:
        source, what = site.source, site.what
        parts = ref.parts
        root = parts[0]
        if root == "params":
            if len(parts) < 2 or parts[1] not in self.params:
                raise PipelineError(source, f"{what}: {ref.text} refers to an undefined param")
        elif root == "workspaces":
            if len(parts) != 3 or parts[2] != "bound":
                raise PipelineError(source, f"{what}: unsupported reference {ref.text}")
            if parts[1] not in self.workspaces:
                raise PipelineError(
                    source, f"{what}: {ref.text} refers to undeclared workspace {parts[1]!r}"
                )
        elif root == "context":
            if ref.path not in _PIPELINE_CONTEXT and ref.path not in workflow_vars.CONTEXT:
                raise PipelineError(source, f"{what}: unknown variable {ref.text}")
        elif root == "tasks":
            self._check_task_ref(ref, site)

    def _check_task_ref(self, ref: Reference, site: _Site) -> None:
        source, what, task, in_finally = site.source, site.what, site.task, site.in_finally
        parts = ref.parts
        if len(parts) == 2 and parts[1] == "status":
            if not in_finally:
                raise PipelineError(source, f"{what}: {ref.text} is only allowed in finally tasks")
            return
        if len(parts) < 3:
            raise PipelineError(source, f"{what}: unsupported reference {ref.text}")
        target, kind = parts[1], parts[2]
        if kind in ("status", "reason") and len(parts) == 3:
            if not in_finally:
                raise PipelineError(source, f"{what}: {ref.text} is only allowed in finally tasks")
            if target not in self.dag:
                raise PipelineError(
                    source, f"{what}: {ref.text} refers to {target!r}, which is not a DAG task"
                )
            return
        if kind == "matrix":
            self._check_matrix_ref(ref, site)
            return
        if kind != "results" or len(parts) < 4:
            raise PipelineError(source, f"{what}: unsupported reference {ref.text}")
        result = parts[3]
        if target not in self.dag and target not in self.final:
            raise PipelineError(source, f"{what}: {ref.text} refers to unknown task {target!r}")
        referenced = self.dag.get(target) or self.final[target]
        spec = self.pipeline.spec_of(referenced)
        declared = {r.name: r for r in spec.results}
        if result not in declared:
            raise PipelineError(
                source,
                f"{what}: {ref.text}: task {target!r} declares no result {result!r}",
            )
        if task is None:
            return
        if in_finally:
            if target not in self.dag:
                raise PipelineError(
                    source,
                    f"{what}: {ref.text}: finally task {target!r} is not upstream"
                    " (finally tasks may only read DAG task results)",
                )
            return
        if target not in self.dag or target not in upstream(self.graph, task.name):
            raise PipelineError(
                source,
                f"{what}: {ref.text}: task {target!r} is not upstream of {task.name!r}",
            )
        if ref.star and declared[result].type == "string" and referenced.matrix is None:
            raise PipelineError(source, f"{what}: {ref.text}: result {result!r} is not an array")

    def _check_matrix_ref(self, ref: Reference, site: _Site) -> None:
        """`$(tasks.T.matrix.length)` and `$(tasks.T.matrix.R.length)` of a matrix task."""
        parts, source, what = ref.parts, site.source, site.what
        target = self.dag.get(parts[1])
        if parts[-1] != "length" or len(parts) not in (4, 5):
            raise PipelineError(source, f"{what}: unsupported reference {ref.text}")
        if target is None or target.matrix is None:
            raise PipelineError(source, f"{what}: {ref.text}: {parts[1]!r} is not a matrix task")
        if len(parts) == 5:
            results = {r.name for r in self.pipeline.spec_of(target).results}
            if parts[3] not in results:
                raise PipelineError(
                    source, f"{what}: {ref.text}: task {parts[1]!r} declares no result {parts[3]!r}"
                )
        if (
            site.task is not None
            and not site.in_finally
            and target.name not in upstream(self.graph, site.task.name)
        ):
            raise PipelineError(source, f"{what}: {ref.text}: task {parts[1]!r} is not upstream")

    def lone_type(self, value: ParamValue) -> str | None:
        """The type of a value that is one whole reference to a param or a task result (a
        matrix task's results are arrays); None for anything else."""
        refs = references(value)
        if not isinstance(value, str) or len(refs) != 1 or refs[0].index is not None:
            return None
        ref = refs[0]
        if value.strip() != ref.text:
            return None
        parts = ref.parts
        if parts[0] == "params" and len(parts) == 2:
            return next((p.type for p in self.pipeline.params if p.name == parts[1]), None)
        if parts[0] == "tasks" and len(parts) == 4 and parts[2] == "results":
            task = self.dag.get(parts[1]) or self.final.get(parts[1])
            if task is None:
                return None
            if task.matrix is not None:
                return "array"
            results = self.pipeline.spec_of(task).results
            return next((r.type for r in results if r.name == parts[3]), None)
        return None


def _check_binding(pipeline: Pipeline, scope: _Scope, task: PipelineTask, in_finally: bool) -> None:
    """What a pipeline task binds for its spec: params, matrix, guards, workspaces."""
    group = "finally task" if in_finally else "task"
    what = f"{group} {task.name!r}"
    source = task.source
    spec = pipeline.spec_of(task)
    if task.retries < 0:
        _report(PipelineError(source, f"{what}: retries must not be negative ({task.retries})"))
    if task.timeout is not None and task.timeout < 0:
        _report(PipelineError(source, f"{what}: negative timeout"))
    _check_params(scope, task, spec, what, in_finally)
    matrix_names = _check_matrix(scope, task, spec, what, in_finally)
    for param in spec.params:
        supplied = param.name in task.params or param.name in matrix_names
        if param.default is None and not supplied:
            _report(
                PipelineError(
                    source,
                    f"{what}: required param {param.name!r} of task {spec.name!r}"
                    f" (declared at {param.source}) is not supplied",
                )
            )
    for when in task.when:
        with _each():
            if when.operator not in ("in", "notin"):
                raise PipelineError(when.source, f"{what}: when operator {when.operator!r}")
            if not when.values:
                raise PipelineError(when.source, f"{what}: when 'values' must not be empty")
            scope.check(when.input, when.source, f"{what} when", task, in_finally)
            scope.check(when.values, when.source, f"{what} when", task, in_finally)
    _check_workspaces(scope, task, spec, what)


def _check_params(
    scope: _Scope, task: PipelineTask, spec: TaskSpec, what: str, in_finally: bool
) -> None:
    declared: dict[str, ParamSpec] = {p.name: p for p in spec.params}
    source = task.source
    for name, value in task.params.items():
        with _each():
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
    scope: _Scope, task: PipelineTask, spec: TaskSpec, what: str, in_finally: bool
) -> set[str]:
    """The params the task's matrix supplies (checked)."""
    matrix_names: set[str] = set()
    if task.matrix is None:
        return matrix_names
    declared = {p.name for p in spec.params}
    source = task.source
    for name, values in task.matrix.params.items():
        matrix_names.add(name)  # supplied, even when its values are wrong
        with _each():
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
    for include in task.matrix.include:
        for name, value in include.items():
            matrix_names.add(name)
            with _each():
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
                _report(PipelineError(source, message))
            matrix_names.add(name)
    return matrix_names


def _check_workspaces(scope: _Scope, task: PipelineTask, spec: TaskSpec, what: str) -> None:
    source = task.source
    task_ws = {w.name: w for w in spec.workspaces}
    for inner, sub_path in task.workspace_sub_paths.items():
        scope.check(sub_path, source, f"{what} workspace {inner!r} subPath", task, False)
    for inner, outer in task.workspaces.items():
        if inner not in task_ws:
            message = f"{what}: binds workspace {inner!r} that {spec.name!r} does not declare"
            _report(PipelineError(source, message))
        elif outer not in scope.workspaces:
            message = f"{what}: workspace {inner!r} binds undeclared pipeline workspace {outer!r}"
            _report(PipelineError(source, message))
    for decl in spec.workspaces:
        if not decl.optional and decl.name not in task.workspaces:
            message = f"{what}: required workspace {decl.name!r} of {spec.name!r} is not bound"
            _report(PipelineError(source, message))


def _check_supplied(pipeline: Pipeline, params: Mapping[str, ParamValue]) -> None:
    declared = {p.name: p for p in pipeline.params}
    for name in params:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            _report(
                PipelineError(
                    pipeline.source,
                    f"pipeline {pipeline.name!r} has no param {name!r} (declared: {known})",
                )
            )
    for param in pipeline.params:
        with _each():
            value = params.get(param.name, param.default)
            if value is None:
                raise PipelineError(
                    param.source,
                    f"param {param.name!r} is required: it has no default and no value",
                )
            if value_type(value) != param.type:
                raise PipelineError(
                    param.source,
                    f"param {param.name!r} is {param.type} but is given a"
                    f" {value_type(value)} value",
                )
            check_value(param, value, param.source, "pipeline")


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


def _check_depends(task: PipelineTask, group_names: set[str], group: str) -> None:
    """A predicate reads tasks of the task's own group, not itself; continue_on is a failure."""
    bad = set(task.continue_on) - {"Failed", "Errored"}
    if bad:
        message = f"{group} {task.name!r}: continue_on {sorted(bad)[0]!r} is not a failure"
        raise PipelineError(task.source, message)
    if task.depends is None:
        return
    for name in tasks_of(task.depends):
        if name == task.name:
            raise PipelineError(task.source, f"{group} {task.name!r} depends on itself")
        if name not in group_names:
            text = render(task.depends)
            message = f"{group} {task.name!r}: depends `{text}` names unknown task {name!r}"
            raise PipelineError(task.source, message)


def validate(pipeline: Pipeline, params: Mapping[str, ParamValue]) -> None:
    """Raise unless the pipeline can run with `params`: the one `PipelineError` found, or a
    `PipelineErrors` holding each problem found (see the module docstring).

    `params` are the run's values (PipelineRun and command line); defaults fill the rest.
    Sub-graphs are checked like the pipeline, where the pipeline's params are also visible
    (they propagate into sub-graphs, as Argo's `workflow.parameters` do).
    """
    found: list[PipelineError] = []
    token = _FOUND.set(found)
    try:
        with _each():  # a problem that stops the pipeline's checks (no tasks, a cycle)
            _check_graph(pipeline, set())
        outer = {p.name for p in pipeline.params}
        for name in sorted(pipeline.graph_library):
            with _each():
                _check_graph(pipeline.graph_library[name], outer)
        _check_supplied(pipeline, params)
    finally:
        _FOUND.reset(token)
    raise_all(_distinct(found))


def _distinct(errors: list[PipelineError]) -> list[PipelineError]:
    """Without an error that only repeats an earlier one at the same place (an unknown taskRef
    found again through a reference to the task's results)."""
    kept: list[PipelineError] = []
    for error in errors:
        if not any(k.source == error.source and k.message.startswith(error.message) for k in kept):
            kept.append(error)
    return kept


def _check_graph(pipeline: Pipeline, outer_params: set[str]) -> None:
    _duplicates(((p.name, p.source) for p in pipeline.params), "pipeline param")
    _duplicates(((w.name, w.source) for w in pipeline.workspaces), "pipeline workspace")
    _duplicates(((r.name, r.source) for r in pipeline.results), "pipeline result")
    if not pipeline.tasks:
        raise PipelineError(pipeline.source, f"pipeline {pipeline.name!r} has no tasks")
    _duplicates(((t.name, t.source) for t in pipeline.all_tasks()), "task name")
    for name in sorted(pipeline.task_library):
        _check_task_spec(pipeline.task_library[name], f"task {name!r}")
    dag = {t.name for t in pipeline.tasks}
    final = {t.name for t in pipeline.finally_tasks}
    unresolved: set[str] = set()
    for task, in_finally in [
        *((t, False) for t in pipeline.tasks),
        *((t, True) for t in pipeline.finally_tasks),
    ]:
        group = "finally task" if in_finally else "task"
        with _each():
            if task.graph_ref is not None:
                if task.graph_ref not in pipeline.graph_library:
                    message = f"{group} {task.name!r}: unknown sub-graph {task.graph_ref!r}"
                    unresolved.add(task.name)
                    raise PipelineError(task.source, message)
            elif task.task_spec is not None:
                _check_task_spec(task.task_spec, f"{group} {task.name!r}")
            elif task.task_ref is None:
                unresolved.add(task.name)
                raise PipelineError(task.source, f"{group} {task.name!r} has no task")
            elif task.task_ref not in pipeline.task_library:
                unresolved.add(task.name)
                known = ", ".join(sorted(pipeline.task_library)) or "none loaded"
                raise PipelineError(
                    task.source,
                    f"{group} {task.name!r}: unknown taskRef {task.task_ref!r} (known: {known})",
                )
        if in_finally and task.run_after:
            _report(PipelineError(task.source, f"finally task {task.name!r} cannot use runAfter"))
        with _each():
            _check_depends(task, dag if not in_finally else final, group)
        for name in task.run_after if not in_finally else ():
            if name == task.name:
                _report(PipelineError(task.source, f"task {task.name!r} runs after itself"))
            elif name not in dag:
                where = " (a finally task)" if name in final else ""
                message = f"task {task.name!r}: runAfter unknown task {name!r}{where}"
                _report(PipelineError(task.source, message))
    graph = dependencies(pipeline)
    for group_tasks in (pipeline.tasks, pipeline.finally_tasks):
        cycle = find_cycle(group_tasks, graph)
        if cycle:
            first = next(t for t in group_tasks if t.name == cycle[0])
            # What runs before what is unknown: the checks that depend on it would mislead.
            raise PipelineError(first.source, f"dependency cycle: {' -> '.join(cycle)}")
    scope = _Scope(pipeline, graph)
    scope.params |= outer_params
    for task in pipeline.tasks:
        if task.name not in unresolved:
            with _each():
                _check_binding(pipeline, scope, task, in_finally=False)
    for task in pipeline.finally_tasks:
        if task.name not in unresolved:
            with _each():
                _check_binding(pipeline, scope, task, in_finally=True)
    for result in pipeline.results:
        with _each():
            scope.check(
                result.value, result.source, f"pipeline result {result.name!r}", None, False
            )
