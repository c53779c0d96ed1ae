"""The Argo template of one task spec: inputs, outputs, its containers and their references.

A task spec is written once per distinct binding (`emit_argo.py` keys them), and its text is
rewritten from IR `$(...)` to Argo's `{{...}}` as seen from inside the pod: params are the
template's inputs, results a file under `RESULTS_DIR`, workspaces mounts under `WORKSPACE_ROOT`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from foredeck.pipeline import emit_argo_artifacts as arts
from foredeck.pipeline import emit_argo_containers as containers
from foredeck.pipeline import emit_argo_pod as pod
from foredeck.pipeline import emit_kaniko as kaniko
from foredeck.pipeline import retry_vars, workflow_vars
from foredeck.pipeline.argo_manifest import (
    RESULTS_DIR,
    RESULTS_VOLUME,
    WORKSPACE_ROOT,
    shebang_command,
)
from foredeck.pipeline.artifacts import REPOSITORY
from foredeck.pipeline.collector import COLLECT_STEP, CollectedOutput, parse_collector
from foredeck.pipeline.emit_argo_expr import ArgoExprError, argo_text
from foredeck.pipeline.emit_argo_graphs import retry_strategy
from foredeck.pipeline.emit_argo_http import http_body
from foredeck.pipeline.emit_argo_resource import resource_fields
from foredeck.pipeline.expressions import Reference, iter_references
from foredeck.pipeline.exprlang.embed import START
from foredeck.pipeline.model import Pipeline, PipelineTask, Step, TaskSpec
from foredeck.types import PipelineError, Source

_EXPR = re.compile(r"\$\(\s*([A-Za-z_][^()\s]*?)\s*\)")
_OWN_ROOTS = frozenset({"params", "tasks", "results", "workspaces", "context"})


NotExpressible = ArgoExprError
"""What Argo cannot write; the caller raises it again as a `PipelineError` naming where."""


def replace_refs(text: str, resolve: Callable[[Reference], str]) -> str:
    """Rewrite every IR `$(...)` the pipeline owns; others (`$(date)`) belong to the shell.

    An expression `$(= ...)` becomes `{{=...}}`, its references Argo variables (`argo_expr`)."""
    if START in text:
        return argo_text(text, lambda plain: replace_refs(plain, resolve), resolve)

    def repl(m: re.Match[str]) -> str:
        ref = next(iter_references(m.group(0)))
        if ref.parts[0] not in _OWN_ROOTS:
            return m.group(0)
        return resolve(ref)

    return _EXPR.sub(repl, text)


def _seconds(value: float) -> dict[str, Any]:
    """A per-attempt timeout: `activeDeadlineSeconds` when whole, else a `timeout` duration."""
    if value == int(value):
        return {"activeDeadlineSeconds": str(int(value))}
    return {"timeout": f"{value:g}s"}


class TemplateBuilder:
    """The template of one task spec, as one pipeline task runs it (its workspaces, retries,
    timeout and pod settings)."""

    def __init__(self, pipeline: Pipeline, spec: TaskSpec, task: PipelineTask, name: str) -> None:
        self.pipeline = pipeline
        self.spec = spec
        self.task = task
        self.name = name
        self.where = f"task {task.name!r} (spec {spec.name!r})"
        self.uses_results_dir = False

    def build(self) -> dict[str, Any]:
        spec = self.spec
        steps = kaniko.build_steps(spec)
        collected: dict[str, CollectedOutput] = {}
        if len(steps) > 1 and steps[-1].name == COLLECT_STEP:
            found = parse_collector(steps[-1])
            if found is not None:
                steps = steps[:-1]
                collected = {out.result: out for out in found}
        init, steps = [s for s in steps if s.init], [s for s in steps if not s.init]
        steps = arts.leaf_steps(spec, steps)
        template: dict[str, Any] = {"name": self.name}
        self._inputs(template)
        if spec.http is not None:
            template["http"] = http_body(spec.http, self._body)
            self._run_fields(template, None)
            return template
        if spec.resource is not None:
            return self._resource(template)
        outputs = []
        for result in spec.results:
            if result.value_from != "file" or arts.is_locator(result.name):
                continue  # Argo's implicit outputs.result / exitCode, or an artifact
            value_from: dict[str, Any]
            if result.name in collected:
                out = collected[result.name]
                value_from = {"path": self._body(out.path, spec.source, "result path")}
                if out.default is not None:
                    value_from["default"] = out.default
            else:
                value_from = {"path": f"{RESULTS_DIR}/{result.name}"}
                self.uses_results_dir = True
            outputs.append({"name": result.name, "valueFrom": value_from})
            exported = spec.global_names.get(result.name, "")
            if exported.startswith("parameters."):
                outputs[-1]["globalName"] = exported.partition(".")[2]
        mounts = self._mounts()
        if len(steps) == 1:
            kind, body = self._single(steps[0])
            template[kind] = body
        else:
            template["containerSet"] = self._container_set(steps)
        if mounts or self.uses_results_dir:
            mounts += self._results_mount()
            target = template.get("container") or template.get("script")
            if target is not None:
                target["volumeMounts"] = mounts
            else:
                template["containerSet"]["volumeMounts"] = mounts
        template.update(containers.extras(self, init, spec.sidecars, mounts))
        if outputs:
            template["outputs"] = {"parameters": outputs}
        arts.leaf_fields(spec, template)
        if spec.daemon:
            template["daemon"] = True
        own = [{"name": name, "emptyDir": {}} for name in spec.empty_dirs]
        if self.uses_results_dir:
            own.append({"name": RESULTS_VOLUME, "emptyDir": {}})
        if own:
            template["volumes"] = own
        self._run_fields(template, steps[0].timeout if len(steps) == 1 else None)
        kaniko.add_to_argo(spec, template)
        return template

    def _inputs(self, template: dict[str, Any]) -> None:
        inputs = []
        for param in (p for p in self.spec.params if not arts.is_locator(p.name)):
            if param.type != "string":
                message = f"{self.where}: param {param.name!r} is an {param.type}; Argo has strings"
                raise PipelineError(param.source, message)
            entry: dict[str, Any] = {"name": param.name}
            if param.default is not None:
                entry["default"] = param.default
            if param.description:
                entry["description"] = param.description
            inputs.append(entry)
        if inputs:
            template["inputs"] = {"parameters": inputs}

    def _run_fields(self, template: dict[str, Any], step_timeout: float | None) -> None:
        """Retries, deadline and the pod fields of the template."""
        spec, task = self.spec, self.task
        if task.retries:
            template["retryStrategy"] = retry_strategy(task.retries, task.retry)
        limits = [t for t in (task.timeout, step_timeout) if t]
        if spec.deadline_params:  # each call's argument gives it, as in the source
            template.update(
                {k: f"{{{{inputs.parameters.{p}}}}}" for k, p in spec.deadline_params.items()}
            )
        elif limits:
            template.update(_seconds(min(limits)))
        template.update(pod.template_fields(self.pipeline, task))

    def _resource(self, template: dict[str, Any]) -> dict[str, Any]:
        """A `resource` template: its fields, then what any template of a task carries."""
        template.update(resource_fields(self))
        if self.task.retries:
            template["retryStrategy"] = retry_strategy(self.task.retries, self.task.retry)
        if self.spec.deadline_params:
            params = self.spec.deadline_params.items()
            template.update({k: f"{{{{inputs.parameters.{p}}}}}" for k, p in params})
        elif self.task.timeout:
            template.update(_seconds(self.task.timeout))
        template.update(pod.template_fields(self.pipeline, self.task))
        return template

    def _mounts(self) -> list[dict[str, str]]:
        mounts = []
        for inner, outer in sorted(self.task.workspaces.items()):
            if self.spec.artifacts and inner == REPOSITORY:
                continue
            mount = {"name": outer, "mountPath": f"{WORKSPACE_ROOT}/{inner}"}
            sub_path = pod.sub_path(self.task, inner)
            if sub_path:
                mount["subPath"] = sub_path
            mounts.append(mount)
        for name in self.spec.empty_dirs:  # the template's own emptyDir volumes
            mounts.append({"name": name, "mountPath": f"{WORKSPACE_ROOT}/{name}"})
        return mounts

    def _results_mount(self) -> list[dict[str, str]]:
        if not self.uses_results_dir:
            return []
        return [{"name": RESULTS_VOLUME, "mountPath": RESULTS_DIR}]

    def _body(self, text: str, source: Source, where: str) -> str:
        try:
            return replace_refs(arts.body_text(text), self._body_ref)
        except NotExpressible as exc:
            raise PipelineError(source, f"{self.where} {where}: {exc}") from None

    def _body_ref(self, ref: Reference) -> str:
        parts = ref.parts
        if ref.star or ref.index is not None:
            raise NotExpressible(f"{ref.text}: Argo parameters are strings (no arrays)")
        if parts[0] == "params" and len(parts) == 2:
            return f"{{{{inputs.parameters.{parts[1]}}}}}"
        if parts[0] == "results" and parts[2:] == ["path"]:
            self.uses_results_dir = True
            return f"{RESULTS_DIR}/{parts[1]}"
        if parts[0] == "workspaces" and len(parts) == 3:
            bound = parts[1] in self.task.workspaces or parts[1] in self.spec.empty_dirs
            if parts[2] == "path":
                return f"{WORKSPACE_ROOT}/{parts[1]}" if bound else ""
            if parts[2] == "bound":
                return "true" if bound else "false"
        context = {
            "context.taskRun.name": "{{pod.name}}",
            "context.taskRun.namespace": "{{workflow.namespace}}",
            "context.task.retry-count": "{{retries}}",
            "context.pipelineRun.name": "{{workflow.name}}",
            "context.pipelineRun.namespace": "{{workflow.namespace}}",
            "context.pipelineRun.uid": "{{workflow.uid}}",
            "context.pipeline.name": self.pipeline.name,
            "context.pipelineTask.retries": str(self.task.retries),
        }
        if ref.path in context:
            return context[ref.path]
        if workflow_vars.argo_tag(ref.path) is not None:
            return str(workflow_vars.argo_tag(ref.path))
        if retry_vars.argo_tag(ref.path) is not None:
            return str(retry_vars.argo_tag(ref.path))
        raise NotExpressible(f"{ref.text} cannot be expressed in Argo")

    def _container(self, step: Step) -> dict[str, Any]:
        where = f"step {step.name!r}"
        body: dict[str, Any] = {
            "name": step.name,
            "image": self._body(step.image, step.source, where),
        }
        if step.env:
            body["env"] = [
                {"name": k, "value": self._body(v, step.source, where)} for k, v in step.env.items()
            ]
        if step.working_dir:
            body["workingDir"] = self._body(step.working_dir, step.source, where)
        body.update(pod.container_fields(step, f"{self.where} {where}"))
        resources = pod.step_resources(self.pipeline, self.task).get(step.name)
        if resources:
            body["resources"] = resources
        return body

    def _single(self, step: Step) -> tuple[str, dict[str, Any]]:
        body = self._container(step)
        where = f"step {step.name!r}"
        if step.script is not None:
            body["command"] = shebang_command(step.script)
            body["source"] = self._body(step.script, step.source, where)
            return "script", body
        if step.command:
            body["command"] = [self._body(c, step.source, where) for c in step.command]
        if step.args:
            body["args"] = [self._body(a, step.source, where) for a in step.args]
        return "container", body

    def _container_set(self, steps: list[Step]) -> dict[str, Any]:
        return containers.container_set(self, steps)
