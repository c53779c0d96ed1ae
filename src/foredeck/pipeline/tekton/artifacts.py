"""Tekton artifacts (alpha, TEP-0147) that an embedded task's steps read from other tasks.

Steps write provenance JSON (`{"inputs": [{"name", "values"}], "outputs": [...]}`) to
`$(artifacts.path)` or `$(step.artifacts.path)`; the executor reads it when the task ends.
`$(tasks.T.outputs.NAME)` (or `inputs`) is the JSON of that artifact's `values`. Tekton
substitutes such a reference even inside an embedded `taskSpec`'s steps; the IR passes values
to steps by params only, so each one becomes a param of the embedded spec, bound by the
pipeline task to the reference (which also orders the task after T).
"""

from __future__ import annotations

import re
from dataclasses import replace

from foredeck.pipeline.model import ParamSpec, ParamValue, PipelineTask, TaskSpec

_REF = re.compile(r"\$\(\s*tasks\.([^.()\s]+)\.(inputs|outputs)\.([^.()\s\[\]]+)\s*\)")


def param_name(task: str, kind: str, name: str) -> str:
    return f"artifact-{task}-{kind}-{name}"


def _rewrite(text: str, found: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = param_name(m.group(1), m.group(2), m.group(3))
        found[name] = f"$(tasks.{m.group(1)}.{m.group(2)}.{m.group(3)})"
        return f"$(params.{name})"

    return _REF.sub(repl, text) if "$(" in text else text


def artifact_params(task: PipelineTask, spec: TaskSpec) -> None:
    """Turn `$(tasks.T.outputs.N)` in the steps of `task`'s embedded `spec` into params."""
    found: dict[str, str] = {}
    for step in spec.steps:
        step.command = [_rewrite(t, found) for t in step.command]
        step.args = [_rewrite(t, found) for t in step.args]
        step.script = None if step.script is None else _rewrite(step.script, found)
        step.env = {k: _rewrite(v, found) for k, v in step.env.items()}
    declared = {p.name for p in spec.params}
    for name, ref in found.items():
        if name not in declared:
            spec.params.append(ParamSpec(name, source=task.source))
        task.params.setdefault(name, ref)


def folded_back(task: PipelineTask, spec: TaskSpec) -> tuple[dict[str, ParamValue], TaskSpec]:
    """The reverse of `artifact_params` for the Tekton emitter: the references written in the
    steps again, as Tekton takes them (and as the input had them)."""
    refs = {
        name: value
        for name, value in task.params.items()
        if name.startswith("artifact-") and isinstance(value, str) and _REF.fullmatch(value)
    }
    if not refs or task.task_spec is None:
        return task.params, spec

    def back(text: str) -> str:
        for name, value in refs.items():
            text = text.replace(f"$(params.{name})", str(value))
        return text

    steps = [
        replace(
            step,
            command=[back(t) for t in step.command],
            args=[back(t) for t in step.args],
            script=None if step.script is None else back(step.script),
            env={k: back(v) for k, v in step.env.items()},
        )
        for step in spec.steps
    ]
    params = [p for p in spec.params if p.name not in refs]
    kept = {k: v for k, v in task.params.items() if k not in refs}
    return kept, replace(spec, steps=steps, params=params)
