"""What `$(...)` means in a running pipeline: the executor's roots and their lookups.

The executor resolves `params`, `tasks`, `results`, `workspaces` and `context`; any other root
(`$(pwd)` in a script) is left to the shell, while an unresolvable reference under one of these
roots fails the task with a message naming it. A run has one lookup for pipeline-level values
(params, other tasks' results and, in finally tasks, their status) and one per task attempt
(its params, results paths, workspaces and `context.taskRun`).

A value may hold expressions `$(= ...)` (Argo's `{{=...}}`, see `pipeline/model.py`): they are
evaluated with the same lookup by the bounded evaluator of `pipeline/exprlang`, and a failure
(a type error, a missing value, a limit) fails the task like an unresolvable reference.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

from foredeck.execute import workflow_vars
from foredeck.execute.outcomes import outcome
from foredeck.execute.runstate import (
    TaskRecord,
    TaskState,
    tekton_aggregate_status,
    tekton_task_status,
)
from foredeck.execute.step_files import exit_code_path
from foredeck.execute.workspace import dir_name
from foredeck.pipeline import retry_vars
from foredeck.pipeline.expressions import (
    Lookup,
    Reference,
    SubstitutionError,
    iter_references,
    references,
    substitute,
    substitute_list,
    substitute_value,
)
from foredeck.pipeline.model import (
    ParamType,
    ParamValue,
    Pipeline,
    PipelineTask,
    TaskSpec,
    over_default,
)
from foredeck.pipeline.validate import TEKTON_CONTEXT

NAMESPACE = "local"
HOST_IP = "127.0.0.1"
START = "$(="
"""Opens an expression in a value (`exprlang/embed.py`); the evaluator loads on first use."""
KNOWN_ROOTS = frozenset({"params", "tasks", "results", "workspaces", "context", "steps"})
"""Roots the executor resolves; any other `$(...)` (`$(pwd)` in a script) is left to the shell."""


def check(text: str, lookup: Lookup) -> None:
    """Raise for a reference the executor owns but cannot resolve; others stay for the shell."""
    if "$(" not in text:
        return
    for ref in iter_references(text):
        if ref.parts[0] in KNOWN_ROOTS and not _left_as_written(ref):
            substitute(ref.text, lookup)


def _left_as_written(ref: Reference) -> bool:
    """A `$(context.…)` Tekton does not document: Tekton leaves it for the shell, as here."""
    known = ref.path in TEKTON_CONTEXT or ref.path in retry_vars.CONTEXT
    return ref.parts[0] == "context" and not known


def text(value: str, lookup: Lookup) -> str:
    """`value` with the executor's references substituted (`SubstitutionError` if one fails)."""
    if "$(" not in value:
        return value
    if START in value:
        return _render(value, lookup)
    check(value, lookup)
    return substitute(value, lookup, strict=False)


def args(items: list[str], lookup: Lookup) -> list[str]:
    """Arguments substituted; `$(params.arr[*])` alone expands to one argument per item."""
    if any(START in item for item in items):
        out: list[str] = []
        for item in items:
            out.extend([text(item, lookup)] if START in item else args([item], lookup))
        return out
    for item in items:
        check(item, lookup)
    return substitute_list(items, lookup, strict=False)


def value(param: ParamValue, lookup: Lookup, expected: ParamType | None = None) -> ParamValue:
    """A param value (string, array or object) substituted. For an `expected` array, a lone
    `$(tasks.T.results.list)` without `[*]` is the whole array too, as Tekton passes it."""
    if isinstance(param, str) and START in param:
        return _render(param, lookup)
    if isinstance(param, list) and any(START in item for item in param):
        return [text(item, lookup) for item in param]
    if isinstance(param, dict) and any(START in item for item in param.values()):
        return {key: text(item, lookup) for key, item in param.items()}
    for ref in references(param):
        if ref.parts[0] in KNOWN_ROOTS and not _left_as_written(ref):
            substitute(ref.text, lookup)
    if expected == "array" and isinstance(param, str) and "[*]" not in param:
        refs = references(param)
        if len(refs) == 1 and refs[0].index is None and param.strip() == refs[0].text:
            resolved = lookup(refs[0].path)
            if isinstance(resolved, list):
                return list(resolved)
    return substitute_value(param, lookup, strict=False)


def guard_off(when: str, lookup: Lookup) -> str:
    """Why an Argo `when` (govaluate over `$(...)`) is false, or '' when it holds: the text is
    substituted first, then evaluated, as Argo does."""
    from foredeck.pipeline.exprlang import govaluate
    from foredeck.pipeline.exprlang.errors import ExprError

    substituted = text(when, lookup)
    try:
        holds = govaluate.evaluate(substituted)
    except ExprError as exc:
        raise SubstitutionError(f"when {substituted!r}: {exc.describe(substituted)}") from None
    return "" if holds else f"when: {substituted!r} is false"


def _render(value: str, lookup: Lookup) -> str:
    """Plain parts substituted as usual, each `$(= ...)` evaluated and formatted as Argo does."""
    from foredeck.pipeline.exprlang.api import evaluate as run_expression
    from foredeck.pipeline.exprlang.embed import render
    from foredeck.pipeline.exprlang.errors import ExprError

    def resolve(path: str) -> ParamValue | None:
        found = lookup(path)
        if found is not None:
            return found
        try:
            return substitute_value(f"$({path})", lookup)
        except SubstitutionError:
            return None

    def evaluate(expr: str) -> object:
        try:
            return run_expression(expr, resolve=resolve, refs=True)
        except ExprError as exc:
            shown = " ".join(expr.split())
            raise SubstitutionError(f"expression {shown!r}: {exc.describe(expr)}") from None

    def plain(part: str) -> str:
        check(part, lookup)
        return substitute(part, lookup, strict=False)

    try:
        return render(value, plain, evaluate)
    except ExprError as exc:  # an unclosed `$(=`, or a nil result
        raise SubstitutionError(exc.message) from None


@dataclass
class RunScope:
    """The values a run's expressions see; `records` is the run's own (live) task table."""

    name: str
    pipeline: Pipeline
    params: dict[str, ParamValue]
    records: dict[str, TaskRecord]
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))  # `context.pipelineRun.uid`
    started: float | None = None  # when the run started (Argo's workflow variables)
    run_records: dict[str, TaskRecord] | None = None  # every record, sub-graphs' too
    guarded_off: AbstractSet[str] = frozenset()  # tasks Skipped by their own `when` (live)
    unbound: AbstractSet[str] = frozenset()  # optional workspaces nothing is bound to

    def context(self, task: PipelineTask | None = None) -> dict[str, str]:
        """Tekton's `context.*` at pipeline level; `pipelineTask.retries` for a given task."""
        values = {
            "pipelineRun.name": self.name,
            "pipelineRun.namespace": NAMESPACE,
            "pipelineRun.uid": self.uid,
            "pipeline.name": self.pipeline.name,
        }
        if task is not None:
            values["pipelineTask.retries"] = str(task.retries)
        return values

    def run_value(self, name: str) -> str | None:
        """A context value computed when read (`workflow.duration`, `failures`, ...)."""
        if self.started is None:
            return None
        every = self.records if self.run_records is None else self.run_records
        return workflow_vars.value(name, self.name, self.started, every)

    def aggregate_status(self) -> str:
        """`$(tasks.status)` over the DAG tasks."""
        return tekton_aggregate_status([self.records[t.name].status for t in self.pipeline.tasks])

    def _failure_ignored(self, name: str) -> bool:
        """Whether DAG task `name` continues on every failure (Tekton's `onError: continue`)."""
        task = next((t for t in self.pipeline.tasks if t.name == name), None)
        return task is not None and {"Failed", "Errored"} <= task.continue_on

    def pipeline_lookup(self, in_finally: bool, task: PipelineTask | None = None) -> Lookup:
        """Params, task results, context, bound workspaces; task status in finally tasks.
        `task`: the pipeline task whose bindings are resolved (`context.pipelineTask.*`)."""
        context = self.context(task)
        declared = {workspace.name for workspace in self.pipeline.workspaces}

        def lookup(path: str) -> ParamValue | None:
            root, _, rest = path.partition(".")
            if root == "params":
                return self.params.get(rest)
            if root == "tasks":
                if rest == "status":
                    return self.aggregate_status() if in_finally else None
                name, _, attribute = rest.partition(".")
                record = self.records.get(name)
                if record is None:
                    return None
                if attribute == "status":
                    return tekton_task_status(record.status) if in_finally else None
                if attribute == "reason":
                    ignored = self._failure_ignored(name)
                    return tekton_task_reason(record.status, ignored) if in_finally else None
                if attribute.startswith("results."):
                    results = record.results
                    if record.done:  # what it did not write reads its declared default
                        results = {**result_defaults(self.pipeline, name), **results}
                    return _result(results, attribute[len("results.") :])
                if attribute.startswith("matrix."):
                    return _matrix_length(record, attribute[len("matrix.") :])
                if attribute.startswith(("outputs.", "inputs.")):  # Tekton artifacts
                    return record.provenance.get(attribute)
                if attribute == "ip" and record.daemoned:
                    return record.address or HOST_IP  # see `served.py`
                if attribute == "phase":
                    return _phase(record, self.guarded_off)
                return _fact(record, attribute)
            if root == "context":
                found = context.get(rest)
                return found if found is not None else self.run_value(rest)
            if root == "workspaces":
                name, _, attribute = rest.partition(".")
                if attribute == "bound" and name in declared:
                    return "false" if name in self.unbound else "true"
            return None

        return lookup

    def task_lookup(
        self,
        spec: TaskSpec,
        params: dict[str, ParamValue],
        results_dir: Path | None,
        workspaces: dict[str, Path | None],
        dname: str,
        attempt: int,
        is_finally: bool,
        task: PipelineTask | None = None,
        steps_dir: Path | None = None,
        last: Mapping[str, str] = retry_vars.FIRST,
    ) -> Lookup:
        """What one attempt of a task sees: its params (pipeline params propagate), results
        paths, workspaces, `context.taskRun` and `context.task.retry-count`, and, with
        `steps_dir`, `$(steps.step-X.exitCode.path)`; `last`: the previous attempt's
        `$(context.lastRetry.*)`."""
        # Built on first use: most steps reference nothing, and this runs for every attempt.
        cache: dict[str, dict[str, ParamValue]] = {}

        def scope() -> dict[str, dict[str, ParamValue]]:
            if not cache:
                values: dict[str, ParamValue] = {
                    p.name: p.default for p in spec.params if p.default is not None
                }
                for name, given in params.items():
                    values[name] = over_default(given, values.get(name))
                context: dict[str, ParamValue] = dict(self.context(task))
                context.update(
                    {
                        "taskRun.name": f"{self.name}-{dname}",
                        "taskRun.namespace": NAMESPACE,
                        "taskRun.uid": str(uuid.uuid4()),
                        "task.name": spec.name,
                        "task.retry-count": str(attempt - 1),
                    }
                )
                context.update({f"lastRetry.{k}": v for k, v in last.items()})
                cache["params"], cache["context"] = values, context
            return cache

        def lookup(path: str) -> ParamValue | None:
            root, _, rest = path.partition(".")
            if root == "params":
                # Pipeline params propagate into tasks that do not declare them (Tekton's
                # propagated parameters for embedded specs).
                found = scope()["params"].get(rest)
                return found if found is not None else self.params.get(rest)
            if root == "results":
                name, _, attribute = rest.partition(".")
                declared = any(r.name == name and r.value_from == "file" for r in spec.results)
                if attribute == "path" and declared and results_dir is not None:
                    return str(results_dir / dir_name(name))
                return None
            if root == "workspaces":
                return _workspace(workspaces, rest)
            if root == "context":
                known = scope()["context"].get(rest)
                return known if known is not None else self.run_value(rest)
            if root == "tasks":  # `$(tasks.status)` in a finally task's script, for one
                return self.pipeline_lookup(is_finally)(path)
            if root == "steps" and steps_dir is not None:
                name, _, attribute = rest.partition(".")
                if attribute == "exitCode.path":
                    return str(exit_code_path(steps_dir, name))
            return None

        return lookup


def tekton_task_reason(status: TaskState, ignored: bool = False) -> str:
    """`$(tasks.T.reason)`: the reason a TaskRun's condition gives for its final status.
    `ignored`: the task has `onError: continue`, so a failure reads `FailureIgnored`."""
    if ignored and status in ("Failed", "TimedOut"):
        return "FailureIgnored"
    reasons = {
        "Succeeded": "Succeeded",
        "Failed": "Failed",
        "TimedOut": "TaskRunTimeout",
        "Cancelled": "TaskRunCancelled",
    }
    return reasons.get(status, "None")


def _matrix_length(record: TaskRecord, rest: str) -> str | None:
    """`$(tasks.T.matrix.length)` (instances) and `$(tasks.T.matrix.R.length)` (the results
    the instances produced, as the aggregated array holds them)."""
    if not record.instances:
        return None
    if rest == "length":
        return str(len(record.instances))
    name, _, attribute = rest.partition(".")
    value = record.results.get(name)
    if attribute == "length" and isinstance(value, list):
        return str(len(value))
    return None


def _workspace(workspaces: dict[str, Path | None], rest: str) -> str | None:
    """`$(workspaces.W.path)` / `$(workspaces.W.bound)` of a task."""
    name, _, attribute = rest.partition(".")
    if name not in workspaces:
        return None
    bound = workspaces[name]
    if attribute == "path":
        return "" if bound is None else str(bound)
    if attribute == "bound":
        return "false" if bound is None else "true"
    return None


def result_defaults(pipeline: Pipeline, task_name: str) -> dict[str, ParamValue]:
    """The declared defaults of task `task_name`'s results (Tekton's result `default`)."""
    task = next((t for t in pipeline.all_tasks() if t.name == task_name), None)
    if task is None or task.graph_ref is not None:
        return {}
    return {r.name: r.default for r in pipeline.spec_of(task).results if r.default is not None}


def _result(results: dict[str, ParamValue], name: str) -> ParamValue | None:
    """A task's result; `R.json` of an array result (a matrix task's aggregate) is its JSON
    text, as Argo passes a looped task's outputs (`["a","b"]`); `R.values` the same with each
    item read as JSON when it is JSON, as Argo aggregates a looped task's `outputs.result`."""
    found = results.get(name)
    base, _, suffix = name.rpartition(".")
    if found is None and suffix in ("json", "values"):
        aggregate = results.get(base)
        if isinstance(aggregate, list):
            items = aggregate if suffix == "json" else [_json_or_text(v) for v in aggregate]
            return json.dumps(items, separators=(",", ":"), sort_keys=suffix == "values")
    return found


def _phase(record: TaskRecord, guarded_off: AbstractSet[str]) -> str | None:
    """`$(tasks.T.phase)`: the Argo phase of a settled task (`outcomes.outcome`, Errored
    spelled Error as Argo does); None while it has not settled."""
    phase = outcome(record, guarded_off) if record.done else None
    return "Error" if phase == "Errored" else phase


def _fact(record: TaskRecord, attribute: str) -> str | None:
    """Argo's `startedAt` / `finishedAt` (RFC 3339, seconds) and `hostNodeName` (this host)."""
    if attribute == "hostNodeName":
        return socket.gethostname() if record.started is not None else None
    moment = {"startedAt": record.started, "finishedAt": record.finished}.get(attribute)
    if moment is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def _json_or_text(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text
