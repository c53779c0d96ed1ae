"""IR -> an Argo `Workflow` manifest (`foredeck run --emit argo`).

The shape is fixed (`argo_manifest.py`) so that the Argo front end reads it back into the same IR:

- the entrypoint is a `dag` template; finally tasks form the `onExit` dag;
- one template per task spec (and per distinct retries / timeout / workspace binding, which
  Argo keeps on the template, not on the DAG task): `container` or `script` for a single step,
  a `containerSet` chain for several (steps of one task share a pod, as in Tekton), written by
  `emit_argo_templates.py`;
- a result `R` is written to `/foredeck/results/R` (an emptyDir) and read with
  `valueFrom.path`; the `argo-outputs` step the Argo front end adds is folded back into
  `valueFrom.path` on the file it copied;
- a pipeline workspace `W` is a `volumeClaimTemplate`, mounted at `/workspace/<task workspace>`.

- a dependency predicate is `depends` (a bare name where the default rule is meant), other
  tasks `dependencies`; `continue_on` is `continueOn`; a stdout / exit-code result is read as
  `{{tasks.T.outputs.result}}` / `{{tasks.T.exitCode}}` (Argo captures them; not declared).

What Argo cannot express (step timeouts in multi-step tasks, `timeouts.tasks`, array params in
steps, a finally task reading DAG results ...) raises `PipelineError` naming the task.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from foredeck.pipeline import emit_argo_artifacts as arts
from foredeck.pipeline import emit_argo_hooks as hooks
from foredeck.pipeline import emit_argo_pod as pod
from foredeck.pipeline import workflow_vars
from foredeck.pipeline.argo_manifest import (
    ARGO_API,
    unique_name,
)
from foredeck.pipeline.artifacts import PREFIX
from foredeck.pipeline.collector import COLLECT_STEP
from foredeck.pipeline.emit_argo_graphs import (
    graph_template,
    hooked_task,
    is_exit_wrapper,
    item_tests,
)
from foredeck.pipeline.emit_argo_templates import NotExpressible, TemplateBuilder, replace_refs
from foredeck.pipeline.emit_names import run_metadata
from foredeck.pipeline.expressions import Reference, iter_references
from foredeck.pipeline.model import (
    NODE_FACTS,
    Matrix,
    ParamValue,
    Pipeline,
    PipelineRunSpec,
    PipelineTask,
    RetryStrategy,
    TaskSpec,
    WhenExpression,
)
from foredeck.pipeline.predicates import (
    NO_CONTINUE,
    OUTCOMES,
    AllOf,
    AnyOf,
    ContinueOn,
    Is,
    Predicate,
    render,
    tasks_of,
)
from foredeck.pipeline.step_params import inline_step_actions
from foredeck.pipeline.validate import dependencies
from foredeck.types import PipelineError, Source

_CLAIM_SIZE = "1Gi"
_ITEM_REF = re.compile(r"\$\(item((?:\.[^()\s.]+)*)\)")  # a run-time loop item (`Matrix.items`)

# `$(tasks.status)` values (IR / Tekton) as Argo `{{workflow.status}}` values.
_WORKFLOW_STATUS = {"Succeeded": ["Succeeded"], "Completed": ["Succeeded"]}
_WORKFLOW_STATUS |= {"Failed": ["Failed", "Error"]}


def _go_quote(text: str) -> str:
    """A govaluate string literal (it has no escapes: pick the quote the text lacks)."""
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    raise NotExpressible(f"value {text!r} contains both quote characters")


@dataclass(frozen=True)
class _TemplateKey:
    spec: str
    workspaces: tuple[tuple[str, str], ...]
    retries: int
    timeout: float | None
    task: str | None = None  # a task with its own pod settings or subPaths gets its own
    retry: RetryStrategy | None = None


class _Emitter:
    def __init__(self, run: PipelineRunSpec) -> None:
        self.run = run
        self.pipeline: Pipeline = run.pipeline
        self.graph = dependencies(self.pipeline)
        self.templates: dict[_TemplateKey, dict[str, Any]] = {}
        self.template_names: set[str] = set()
        self.matrix_tasks = {t.name for t in self.pipeline.all_tasks() if t.matrix is not None}
        self.finally_names = {t.name for t in self.pipeline.finally_tasks}
        self.by_name = {t.name: t for t in self.pipeline.all_tasks()}
        self.inputs: set[str] = set()  # params that are the inputs of a sub-graph template
        self.graph_templates: dict[str, str] = {}  # graph_ref -> its dag template
        self.graph_bodies: list[dict[str, Any]] = []

    def emit(self) -> dict[str, Any]:
        p = self.pipeline
        dag_tasks = hooks.dag_tasks(self, p.tasks)
        exit_tasks = [self._dag_task(t, finally_=True) for t in p.finally_tasks]
        entry_name = self._unique("main")
        entry: dict[str, Any] = {"name": entry_name, "dag": {"tasks": dag_tasks}}
        if p.parallelism is not None:
            entry["parallelism"] = p.parallelism
        if p.tasks_timeout is not None:  # Tekton's timeouts.tasks: the entrypoint's deadline
            entry["activeDeadlineSeconds"] = str(max(1, math.ceil(p.tasks_timeout)))
        outputs = [self._pipeline_result(r.name, r.value, r.source) for r in p.results]
        if outputs:
            entry["outputs"] = {"parameters": outputs}
        templates = [entry]
        spec: dict[str, Any] = {"entrypoint": entry_name}
        params = [self._workflow_param(param.name) for param in p.params]
        if params:
            spec["arguments"] = {"parameters": params}
        watchers = hooks.workflow_hooks(self, p.tasks)
        if watchers:
            spec["hooks"] = watchers
        if exit_tasks:
            handler = self._unique("exit-handler")
            exit_template: dict[str, Any] = {"name": handler, "dag": {"tasks": exit_tasks}}
            if p.finally_timeout is not None:
                exit_template["activeDeadlineSeconds"] = str(max(1, math.ceil(p.finally_timeout)))
            templates.append(exit_template)
            spec["onExit"] = handler
        templates.extend(self.graph_bodies)
        templates.extend(self.templates.values())
        spec["templates"] = templates
        if p.timeout is not None:
            spec["activeDeadlineSeconds"] = max(1, math.ceil(p.timeout))
        if p.pod_limit is not None:
            spec["parallelism"] = p.pod_limit
        if p.workspaces:
            spec["volumeClaimTemplates"] = [
                {
                    "metadata": {"name": ws.name},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": _CLAIM_SIZE}},
                    },
                }
                for ws in p.workspaces
            ]
        spec.update(pod.workflow_fields(p))
        metadata = run_metadata(self.run)
        workflow = {"apiVersion": ARGO_API, "kind": "Workflow", "metadata": metadata, "spec": spec}
        arts.finish(workflow, p)
        return workflow

    def _unique(self, base: str) -> str:
        name = unique_name(base, self.template_names)
        self.template_names.add(name)
        return name

    def _workflow_param(self, name: str) -> dict[str, Any]:
        param = next(p for p in self.pipeline.params if p.name == name)
        value = self.run.params.get(name, param.default)
        out: dict[str, Any] = {"name": name}
        if param.type == "object":
            raise PipelineError(param.source, f"param {name!r}: Argo has no object parameters")
        if isinstance(value, list):
            value = json.dumps(value)
        if value is not None:
            out["value"] = value
        if param.description:
            out["description"] = param.description
        return out

    def _pipeline_result(self, name: str, value: ParamValue, source: Source) -> dict[str, Any]:
        if not isinstance(value, str):
            raise PipelineError(source, f"pipeline result {name!r}: Argo outputs are strings")
        text = self._call_text(value, False, source, f"pipeline result {name!r}")
        if text.startswith("{{=") and text.endswith("}}") and text.count("{{") == 1:
            return {
                "name": name,
                "valueFrom": {"expression": text[3:-2]},
            }  # as Argo's docs write it
        return {"name": name, "valueFrom": {"parameter": text}}

    # -- call sites -----------------------------------------------------------------------------

    def _call_text(self, text: str, finally_: bool, source: Source, where: str) -> str:
        try:
            return replace_refs(text, lambda ref: self._call_ref(ref, finally_))
        except NotExpressible as exc:
            raise PipelineError(source, f"{where}: {exc}") from None

    def _call_ref(self, ref: Reference, finally_: bool) -> str:
        parts = ref.parts
        if parts[0] == "params" and parts[1:] and parts[1] in self.inputs and not ref.star:
            return f"{{{{inputs.parameters.{parts[1]}}}}}"
        if parts[0] == "params" and len(parts) == 2 and ref.index is None:
            param = next((p for p in self.pipeline.params if p.name == parts[1]), None)
            if param is not None and param.type != "string" and not ref.star:
                raise NotExpressible(f"{ref.text}: an {param.type} param used as a string")
            if ref.star:
                raise NotExpressible(
                    f"{ref.text}: Argo cannot expand an array here (only in a matrix)"
                )
            return f"{{{{workflow.parameters.{parts[1]}}}}}"
        if parts[0] == "tasks" and parts[1:] == ["status"]:
            return "{{workflow.status}}"
        if parts[0] == "tasks" and len(parts) == 3 and parts[2] in NODE_FACTS and not finally_:
            fact = "status" if parts[2] == "phase" else parts[2]  # Argo's node phase
            return f"{{{{tasks.{parts[1]}.{fact}}}}}"
        looped_result = (
            parts[0] == "tasks" and parts[2:3] == ["results"] and parts[4:] == ["values"]
        )
        if looped_result and parts[1] in self.matrix_tasks and not (finally_ or ref.star):
            implicit = self._implicit_result(parts[1], parts[3])
            if implicit is not None:
                return f"{{{{tasks.{parts[1]}.{implicit}}}}}"
        aggregate = parts[0] == "tasks" and parts[2:3] == ["results"] and parts[4:] == ["json"]
        if aggregate and parts[1] in self.matrix_tasks and not (finally_ or ref.star):
            return f"{{{{tasks.{parts[1]}.outputs.parameters.{parts[3]}}}}}"
        if parts[0] == "tasks" and len(parts) == 4 and parts[2] == "results":
            implicit = self._implicit_result(parts[1], parts[3])
            if implicit is not None:
                if finally_ or parts[1] in self.matrix_tasks:
                    raise NotExpressible(
                        f"{ref.text}: Argo reads {implicit} of a dag task only in the dag"
                    )
                return f"{{{{tasks.{parts[1]}.{implicit}}}}}"
            exported = self._exported(parts[1], parts[3])
            if finally_ and exported is not None:  # the exit handler reads the workflow output
                return exported
            if finally_:
                raise NotExpressible(
                    f"{ref.text}: an Argo exit handler cannot read a task's outputs"
                )
            if parts[1] in self.matrix_tasks:
                raise NotExpressible(f"{ref.text}: results of a matrix task cannot be read in Argo")
            if ref.star or ref.index is not None:
                raise NotExpressible(f"{ref.text}: array results can only feed a matrix in Argo")
            return f"{{{{tasks.{parts[1]}.outputs.parameters.{parts[3]}}}}}"
        if parts[0] == "context":
            context = {
                "context.pipelineRun.name": "{{workflow.name}}",
                "context.pipelineRun.namespace": "{{workflow.namespace}}",
                "context.pipelineRun.uid": "{{workflow.uid}}",
                "context.pipeline.name": self.pipeline.name,
            }
            if ref.path in context:
                return context[ref.path]
            if workflow_vars.argo_tag(ref.path) is not None:
                return str(workflow_vars.argo_tag(ref.path))
        if parts[0] == "workspaces" and parts[2:] == ["bound"]:
            return "true"
        raise NotExpressible(f"{ref.text} cannot be expressed in Argo")

    def _exported(self, task_name: str, result: str) -> str | None:
        """`{{workflow.outputs....}}` for a result the task's template exports (`globalName`)."""
        task = self.by_name.get(task_name)
        if task is None or task.graph_ref is not None:
            return None
        key = self.pipeline.spec_of(task).global_names.get(result)
        if key is None:
            return None
        kind, _, name = key.partition(".")
        if kind == "artifacts":  # a locator param, as the artifact pass expects
            return f"{{{{workflow.outputs.parameters.{PREFIX}{name}}}}}"
        return f"{{{{workflow.outputs.parameters.{name}}}}}"

    def _implicit_result(self, task_name: str, result: str) -> str | None:
        """`outputs.result` / `exitCode` for a stdout / exit-code result (None: a file)."""
        task = self.by_name.get(task_name)
        if task is None:
            return None
        spec = self.pipeline.spec_of(task)
        found = next((r for r in spec.results if r.name == result), None)
        if found is None or found.value_from == "file":
            return None
        if spec.http is not None:  # the response body
            return "outputs.result"
        main = _main_step(spec)
        if (found.step or spec.steps[-1].name) != main:
            why = f"Argo keeps the stdout and exit code of the step {main!r} only"
            raise NotExpressible(f"result {result!r} of task {task_name!r}: {why}")
        return "outputs.result" if found.value_from == "stdout" else "exitCode"

    def _continue_on(self, name: str) -> ContinueOn:
        task = self.by_name.get(name)
        return task.continue_on if task is not None else NO_CONTINUE

    def _depends(self, task: PipelineTask, deps: list[str]) -> str:
        """The task's predicate as `depends`; edges it does not read only wait (any outcome)."""
        assert task.depends is not None
        predicate: Predicate = task.depends
        extra = [d for d in deps if d not in tasks_of(predicate)]
        if extra:
            settled = [AnyOf(tuple(Is(d, o) for o in OUTCOMES[:6])) for d in extra]  # type: ignore[arg-type]
            predicate = AllOf((predicate, *settled))
        return render(predicate, self._continue_on)

    def _dag_task(self, task: PipelineTask, finally_: bool) -> dict[str, Any]:
        if task.graph_ref is not None and is_exit_wrapper(self.pipeline.graph_of(task)):
            return hooked_task(self, task, finally_)
        where = f"{'finally task' if finally_ else 'task'} {task.name!r}"
        out: dict[str, Any] = {"name": task.name, "template": self._template(task)}
        args: list[dict[str, str]] = []
        for name, value in task.params.items():
            if not isinstance(value, str):
                raise PipelineError(
                    task.source, f"{where}: param {name!r}: Argo values are strings"
                )
            value = pod.task_context(value, task)
            text = self._call_text(value, finally_, task.source, f"{where} param {name!r}")
            args.append({"name": name, "value": text})
        tests: list[str] = []
        if task.matrix is not None:
            loop, items = self._matrix(task.matrix, finally_, task.source, where)
            out.update(loop)
            args.extend({"name": k, "value": v} for k, v in items.items())
            tests = [self._when(w, finally_, where) for w in item_tests(task, items)]
        if args:
            out["arguments"] = {"parameters": args}
        deps = sorted(self.graph.get(task.name, set()))
        if task.depends is not None:
            out["depends"] = self._depends(task, deps)
        elif deps:
            out["dependencies"] = deps
        if task.continue_on:
            out["continueOn"] = {
                key: True
                for key, o in (("failed", "Failed"), ("error", "Errored"))
                if o in task.continue_on
            }
        tests = [self._when(w, finally_, where) for w in task.when] + tests
        if len(tests) == 1 and len(task.when) == 1 and task.when[0].govaluate:
            tests = [tests[0][1:-1]]  # a lone govaluate guard needs no parentheses
        if tests:
            out["when"] = " && ".join(tests)
        return out

    def _when(self, when: WhenExpression, finally_: bool, where: str) -> str:
        subject = self._call_text(when.input, finally_, when.source, f"{where} when")
        if when.govaluate:  # already Argo's language: only its tags change
            return f"({subject})"
        values = [self._call_text(v, finally_, when.source, f"{where} when") for v in when.values]
        if when.input.strip() == "$(tasks.status)":
            unknown = [v for v in values if v not in _WORKFLOW_STATUS]
            if unknown:
                message = f"{where} when: $(tasks.status) value {unknown[0]!r} has no Argo equal"
                raise PipelineError(when.source, message)
            values = list(dict.fromkeys(a for v in values for a in _WORKFLOW_STATUS[v]))
        try:
            left = _go_quote(subject)
            quoted = [_go_quote(v) for v in values]
        except NotExpressible as exc:
            raise PipelineError(when.source, f"{where} when: {exc}") from None
        if when.operator == "in":
            tests = [f"{left} == {v}" for v in quoted]
            return tests[0] if len(tests) == 1 else "(" + " || ".join(tests) + ")"
        return " && ".join(f"{left} != {v}" for v in quoted)

    def _matrix(
        self, matrix: Matrix, finally_: bool, source: Source, where: str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """(`withItems` / `withParam`, the arguments reading `{{item}}`)."""

        def call(text: str) -> str:
            return self._call_text(text, finally_, source, f"{where} matrix")

        if matrix.include_when:
            why = "a guard on one matrix include entry has no Argo loop equal"
            raise PipelineError(source, f"{where}: {why}")
        if matrix.items is not None and not matrix.params and not matrix.include:
            args = {k: _ITEM_REF.sub(r"{{item\1}}", call(v)) for k, v in matrix.item_params.items()}
            return {"withParam": call(matrix.items)}, args
        if not matrix.params and not any(matrix.include):  # runs n times, no item used
            return {"withSequence": {"count": str(len(matrix.include))}}, {}
        if len(matrix.params) == 1 and not matrix.include:
            name, values = next(iter(matrix.params.items()))
            if isinstance(values, list):
                return {"withItems": [call(v) for v in values]}, {name: "{{item}}"}
            refs = list(iter_references(values))
            if not refs:
                parsed = json.loads(values)
                return {"withItems": [str(v) for v in parsed]}, {name: "{{item}}"}
            whole_text = len(refs) == 1 and refs[0].text == values.strip()
            if whole_text and not refs[0].star and refs[0].parts[0] in ("tasks", "params"):
                return {"withParam": call(values)}, {name: "{{item}}"}  # JSON text at run time
            if len(refs) != 1 or refs[0].text != values.strip() or not refs[0].star:
                message = f"{where}: matrix param {name!r}: Argo loops over one whole array"
                raise PipelineError(source, message)
            whole = Reference(refs[0].path)
            if whole.parts[0] == "params":
                target = f"{{{{workflow.parameters.{whole.parts[1]}}}}}"
            else:
                target = call(whole.text)
            return {"withParam": target}, {name: "{{item}}"}
        axes: list[list[str]] = []
        for name, values in matrix.params.items():
            if not isinstance(values, list):
                message = f"{where}: matrix param {name!r}: Argo cannot combine a runtime array"
                raise PipelineError(source, message)
            axes.append([call(v) for v in values])
        names = list(matrix.params)
        # Tekton's order (the first param varies fastest), as the local executor runs them.
        combos = itertools.product(*reversed(axes))
        rows = [dict(zip(names, reversed(combo), strict=True)) for combo in combos]
        if not names:
            rows = []
        rows.extend({k: call(v) for k, v in extra.items()} for extra in matrix.include)
        keys = list(dict.fromkeys(k for row in rows for k in row))
        if any(set(row) != set(keys) for row in rows):
            message = f"{where}: matrix include entries must set the same params for Argo"
            raise PipelineError(source, message)
        return {"withItems": rows}, {k: f"{{{{item.{k}}}}}" for k in keys}

    # -- templates ------------------------------------------------------------------------------

    def _template(self, task: PipelineTask) -> str:
        if task.graph_ref is not None:
            return graph_template(self, task)
        spec = self.pipeline.spec_of(task)
        key = _TemplateKey(
            task.task_ref or f"inline:{task.name}",
            tuple(sorted(task.workspaces.items())),
            task.retries,
            None if spec.deadline_params else task.timeout,  # the template reads its input
            task.name if own_template(self.pipeline, task) else None,
            task.retry,
        )
        if key not in self.templates:
            base = task.task_ref or task.name
            name = self._unique(re.sub(r"[^A-Za-z0-9-]", "-", base).strip("-") or "task")
            self.templates[key] = TemplateBuilder(self.pipeline, spec, task, name).build()
        return str(self.templates[key]["name"])


def own_template(pipeline: Pipeline, task: PipelineTask) -> bool:
    return task.name in pipeline.task_run_specs or bool(task.workspace_sub_paths)


def _main_step(spec: TaskSpec) -> str:
    """The step whose stdout and exit code Argo keeps: the only one, else the one named main
    (the container the emitter names main: the last one, before a collector)."""
    steps = [s.name for s in spec.steps if s.name != COLLECT_STEP] or [spec.steps[-1].name]
    if len(spec.steps) == 1:
        return steps[0]
    return "main" if "main" in steps else steps[-1]


def emit_argo(run: PipelineRunSpec) -> dict[str, Any]:
    """An Argo `Workflow` (as a dict ready for YAML) that runs `run` on a cluster."""
    return _Emitter(inline_step_actions(run)).emit()
