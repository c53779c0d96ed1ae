"""Checks of one task spec on its own: its declarations and what its steps may refer to.

A spec is checked once, whichever pipeline tasks use it, and apart from what those tasks bind
(`validate_bindings.py`): inside steps only the task's own params, results, workspaces and steps
are in scope.
"""

from __future__ import annotations

from foredeck.pipeline.expressions import Reference, references
from foredeck.pipeline.model import Step, TaskSpec
from foredeck.pipeline.validate_report import duplicates, each, report
from foredeck.types import PipelineError, Source

_WORKSPACE_VARS = frozenset({"path", "bound", "claim", "volume"})


def check_task_spec(spec: TaskSpec, where: str) -> None:
    duplicates(((p.name, p.source) for p in spec.params), "param", where)
    duplicates(((r.name, r.source) for r in spec.results), "result", where)
    duplicates(((w.name, w.source) for w in spec.workspaces), "workspace", where)
    if not spec.steps and spec.build is None and spec.http is None and spec.resource is None:
        report(PipelineError(spec.source, f"{where} has no steps"))
    duplicates(((s.name, s.source) for s in spec.steps), "step name", where)
    params = {p.name for p in spec.params}
    results = {r.name for r in spec.results if r.value_from == "file"}
    _check_captured_results(spec, where)
    workspaces = {w.name for w in spec.workspaces}
    steps = list(spec.steps)
    if spec.build is not None:  # its texts take what a step's do, results aside
        steps.append(Step("build-image", args=spec.build.texts(), source=spec.build.source))
        results = set()
    if spec.http is not None:  # its texts too, and it writes no result file
        steps.append(Step("http", args=spec.http.texts(), source=spec.http.source))
    if spec.resource is not None:  # the same for a resource's texts
        source = spec.resource.source
        steps.append(Step("resource", args=spec.resource.texts(), source=source))
        results = set()
    for step in steps:
        swhat = f"{where} step {step.name!r}"
        if step.timeout is not None and step.timeout < 0:
            report(PipelineError(step.source, f"{swhat}: negative timeout"))
        for ref in references(step.texts()):
            with each():
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
