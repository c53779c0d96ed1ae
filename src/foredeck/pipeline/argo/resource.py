"""Argo `resource` templates -> `TaskSpec`s with a `KubeResource` (no steps).

Argo's executor runs `kubectl ACTION` on the manifest (`workflow/executor/resource.go`,
revision 680ee6c2), waits for the success or failure condition, then reads each output
parameter from the object with `kubectl get -o jsonpath=...`. Here the manifest, flags and
conditions keep their tags as IR references (inputs and workflow values, as a container's
body); a host run does the rest through the Kubernetes API (`execute/kube_resource.py`).
Argo gives a resource template no `outputs.result`: nothing but its output parameters.
"""

from __future__ import annotations

from typing import cast

from foredeck.pipeline.argo.fields import (
    IGNORED_TEMPLATE,
    as_list,
    as_map,
    at,
    check_keys,
    fail,
    name_of,
    scalar,
    src,
    unsupported,
)
from foredeck.pipeline.argo.leaf import LeafBuilder
from foredeck.pipeline.argo.outputs import global_names
from foredeck.pipeline.argo.pod import CARRIED_TEMPLATE, carried
from foredeck.pipeline.argo.state import Collection, Leaf, Workflow
from foredeck.pipeline.argo.templates import input_params, retry_limit
from foredeck.pipeline.kube_selectors import (
    SelectorError,
    check_flags,
    check_jq,
    parse_requirements,
)
from foredeck.pipeline.model import KubeResource, ResourceAction, ResultSpec, TaskSpec
from foredeck.yamlsrc import SourceMap

ACTIONS = ("get", "create", "apply", "delete", "replace", "patch")
STRATEGIES = ("strategic", "merge", "json")


class ResourceBuilder(LeafBuilder):
    """One `resource` template's conversion: its inputs as params, its texts translated."""

    def build(self) -> Leaf:
        t = self.template
        allowed = {"name", "inputs", "outputs", "resource", "retryStrategy"}
        allowed |= {"activeDeadlineSeconds", "timeout"} | CARRIED_TEMPLATE
        check_keys(t, allowed, IGNORED_TEMPLATE, self.where)
        for p in input_params(t, self.where):
            self.declared[p.name] = p
        if as_map(t.get("inputs") or {}, at(t, "inputs"), self.where).get("artifacts"):
            raise unsupported(t, "inputs", self.where, "input artifacts of a resource template")
        resource = self._resource(as_map(t["resource"], at(t, "resource"), self.where))
        retries = self.w.default_retries
        if "retryStrategy" in t:
            retries = retry_limit(t["retryStrategy"], at(t, "retryStrategy"))
        key = self.w.spec_key(self.base_key)
        names = [*resource.outputs, *resource.jq]
        results = [ResultSpec(name, source=src(t)) for name in names]
        spec = TaskSpec(
            name=key,
            steps=[],
            params=[*self.declared.values(), *self.implicit.values()],
            results=results,
            source=src(t),
            cluster=carried(t, CARRIED_TEMPLATE),
            global_names=global_names(t, self.where),
            resource=resource,
        )
        self.w.library[key] = spec
        leaf = Leaf(key, spec, retries, self._timeout(), self.bindings, set(names), {})
        leaf.timeout_params = tuple(self.timeout_params)
        return leaf

    def _resource(self, r: SourceMap) -> KubeResource:
        where = f"{self.where} resource"
        allowed = {"action", "manifest", "manifestFrom", "mergeStrategy", "successCondition"}
        allowed |= {"failureCondition", "setOwnerReference", "flags"}
        check_keys(r, allowed, set(), where)
        if "manifestFrom" in r:
            why = "a manifest from an artifact; write it in `manifest`"
            raise unsupported(r, "manifestFrom", where, why)
        action = scalar(r.get("action", ""), at(r, "action"), where)
        if action not in ACTIONS:
            raise fail(at(r, "action"), f"{where}: `action` must be one of {', '.join(ACTIONS)}")
        strategy = scalar(r.get("mergeStrategy", "strategic"), at(r, "mergeStrategy"), where)
        if strategy not in STRATEGIES:
            message = f"{where}: `mergeStrategy` must be one of {', '.join(STRATEGIES)}"
            raise fail(at(r, "mergeStrategy"), message)

        def text(key: str) -> str:
            raw = scalar(r.get(key, ""), at(r, key), where)
            return self._text(raw, at(r, key), f"{where} {key}")

        flags = [
            self._text(scalar(f, at(r, "flags"), where), at(r, "flags"), f"{where} flags")
            for f in as_list(r.get("flags"), at(r, "flags"), where)
        ]
        manifest = text("manifest")
        if not manifest.strip() and not flags:
            raise fail(src(r), f"{where}: needs a `manifest` or `flags`")
        try:
            check_flags(flags, action)
            conditions = {key: text(key) for key in ("successCondition", "failureCondition")}
            for condition in conditions.values():
                if "$(" not in condition:  # one with references is checked once substituted
                    parse_requirements(condition)
        except SelectorError as exc:
            raise fail(src(r), f"{where}: {exc}") from None
        owner = r.get("setOwnerReference", False)
        if owner not in (True, False, "true", "false"):
            raise fail(at(r, "setOwnerReference"), f"{where}: expected true or false")
        outputs, jqs, defaults = self._outputs()
        return KubeResource(
            action=cast(ResourceAction, action),
            manifest=manifest,
            merge_strategy=strategy,  # type: ignore[arg-type]  # checked above
            success_condition=conditions["successCondition"],
            failure_condition=conditions["failureCondition"],
            set_owner_reference=owner in (True, "true"),
            flags=flags,
            outputs=outputs,
            jq=jqs,
            defaults=defaults,
            source=src(r),
        )

    def _outputs(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """Output parameters: each read from the object by a JSONPath (`valueFrom.jsonPath`)
        or a jq path (`jqFilter`); (paths, jq filters, defaults)."""
        t = self.template
        raw = as_map(t.get("outputs") or {}, at(t, "outputs"), self.where)
        check_keys(raw, {"parameters"}, set(), f"{self.where} outputs")
        paths: dict[str, str] = {}
        jqs: dict[str, str] = {}
        defaults: dict[str, str] = {}
        for item in as_list(raw.get("parameters"), at(raw, "parameters"), self.where):
            p = as_map(item, at(raw, "parameters"), f"{self.where} outputs.parameters")
            name = name_of(p, f"{self.where} outputs.parameters")
            owhere = f"{self.where} output {name!r}"
            check_keys(p, {"name", "valueFrom", "globalName", "description"}, set(), owhere)
            value_from = as_map(p.get("valueFrom"), at(p, "valueFrom"), owhere)
            check_keys(
                value_from, {"jsonPath", "jqFilter", "default"}, set(), f"{owhere} valueFrom"
            )
            if "jqFilter" in value_from and "jsonPath" not in value_from:
                jq = scalar(value_from["jqFilter"], at(value_from, "jqFilter"), owhere)
                try:
                    check_jq(jq)
                except SelectorError as exc:
                    raise fail(at(value_from, "jqFilter"), f"{owhere}: {exc}") from None
                jqs[name] = jq
            elif "jsonPath" in value_from:
                path = scalar(value_from["jsonPath"], at(value_from, "jsonPath"), owhere)
                paths[name] = self._text(path, at(value_from, "jsonPath"), f"{owhere} jsonPath")
            else:
                message = f"{owhere}: `valueFrom.jsonPath` or `jqFilter` is required"
                raise fail(src(value_from), message)
            if "default" in value_from:
                defaults[name] = scalar(value_from["default"], at(value_from, "default"), owhere)
        return paths, jqs, defaults


def build_resource(w: Workflow, coll: Collection, template: SourceMap, key: str | None) -> Leaf:
    """The library spec of a `resource` template."""
    return ResourceBuilder(w, coll, template, key).build()
