"""A `KubeResource` task back into an Argo `resource` template, as Argo's own fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from foredeck.pipeline.emit_argo_templates import TemplateBuilder


def resource_fields(builder: TemplateBuilder) -> dict[str, Any]:
    """The template's `resource` and `outputs` (its inputs, retries and deadline are the
    caller's, as for any template)."""
    spec = builder.spec
    r = spec.resource
    assert r is not None

    def body(text: str, what: str) -> str:
        return builder._body(text, r.source, f"resource {what}")

    resource: dict[str, Any] = {"action": r.action}
    if r.manifest:
        resource["manifest"] = body(r.manifest, "manifest")
    if r.action == "patch" and r.merge_strategy != "strategic":
        resource["mergeStrategy"] = r.merge_strategy
    if r.success_condition:
        resource["successCondition"] = body(r.success_condition, "successCondition")
    if r.failure_condition:
        resource["failureCondition"] = body(r.failure_condition, "failureCondition")
    if r.set_owner_reference:
        resource["setOwnerReference"] = True
    if r.flags:
        resource["flags"] = [body(flag, "flags") for flag in r.flags]
    out: dict[str, Any] = {"resource": resource}
    outputs = []
    for result in spec.results:
        name = result.name
        value_from: dict[str, Any]
        if name in r.jq:
            value_from = {"jqFilter": r.jq[name]}
        else:
            value_from = {"jsonPath": body(r.outputs[name], f"output {name!r}")}
        if name in r.defaults:
            value_from["default"] = r.defaults[name]
        entry: dict[str, Any] = {"name": name, "valueFrom": value_from}
        exported = spec.global_names.get(name, "")
        if exported.startswith("parameters."):
            entry["globalName"] = exported.partition(".")[2]
        outputs.append(entry)
    if outputs:
        out["outputs"] = {"parameters": outputs}
    return out
