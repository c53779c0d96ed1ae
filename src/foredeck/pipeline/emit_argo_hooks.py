"""Lifecycle hook tasks (`PipelineTask.trigger`) written back as Argo `hooks.<name>`.

A hook task is not a dag task of its own: it goes on the dag task it watches (`hook_of`), or on
`spec.hooks` for a workflow-level hook, with its expression in expr-lang as Argo reads it (no
`{{ }}`): `$(tasks.X.status)` becomes `tasks['X'].status`, `$(tasks.status)` `workflow.status`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from foredeck.pipeline.emit_argo_expr import ArgoExprError, argo_text
from foredeck.pipeline.emit_argo_templates import NotExpressible
from foredeck.pipeline.expressions import Reference
from foredeck.pipeline.model import PipelineTask
from foredeck.types import PipelineError

if TYPE_CHECKING:
    from foredeck.pipeline.emit_argo import _Emitter


def dag_tasks(emitter: _Emitter, tasks: list[PipelineTask]) -> list[dict[str, Any]]:
    """The dag tasks of `tasks`, each with the lifecycle hooks that watch it."""
    out = [emitter._dag_task(t, finally_=False) for t in tasks if t.trigger is None]
    by_name = {entry["name"]: entry for entry in out}
    for hook in tasks:
        if hook.trigger is None or hook.hook_of is None:
            continue
        if hook.hook_of not in by_name:
            why = f"hook {hook.name!r} watches {hook.hook_of!r}, which is not a dag task here"
            raise PipelineError(hook.source, why)
        by_name[hook.hook_of].setdefault("hooks", {})[hook_name(hook)] = _hook(emitter, hook)
    return out


def workflow_hooks(emitter: _Emitter, tasks: list[PipelineTask]) -> dict[str, Any]:
    """`spec.hooks` of the workflow-level hooks among `tasks`."""
    return {
        hook_name(t): _hook(emitter, t)
        for t in tasks
        if t.trigger is not None and t.hook_of is None
    }


def hook_name(hook: PipelineTask) -> str:
    """The hook's key (`running` of `step-1-hooks-running`, as `argo/lifecycle.py` names it)."""
    prefix = f"{hook.hook_of}-hooks-" if hook.hook_of else "hooks-"
    return hook.name[len(prefix) :] if hook.name.startswith(prefix) else hook.name


def _hook(emitter: _Emitter, hook: PipelineTask) -> dict[str, Any]:
    call = emitter._dag_task(hook, finally_=False)
    out: dict[str, Any] = {"template": call["template"], "expression": _expression(emitter, hook)}
    if "arguments" in call:
        out["arguments"] = call["arguments"]
    return out


def _expression(emitter: _Emitter, hook: PipelineTask) -> str:
    assert hook.trigger is not None

    def resolve(ref: Reference) -> str:
        parts = ref.parts
        if parts[0] == "tasks" and len(parts) == 3 and parts[2] == "status":
            return "{{tasks." + parts[1] + ".status}}"
        return emitter._call_ref(ref, False)

    try:
        text = argo_text(hook.trigger, lambda plain: plain, resolve)
    except (ArgoExprError, NotExpressible) as exc:
        raise PipelineError(hook.source, f"hook {hook.name!r} expression: {exc}") from None
    if text.startswith("{{=") and text.endswith("}}"):
        return text[3:-2]
    return text
