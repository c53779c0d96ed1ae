"""The Argo documents of one input: which workflow runs, and the WorkflowTemplates it uses.

The input holds one `Workflow` (or `CronWorkflow`, whose `workflowSpec` is used), or a single
`WorkflowTemplate`, plus the `WorkflowTemplate`s its `templateRef`s / `workflowTemplateRef`
name. Each document's templates are one `Collection`; a Workflow running a WorkflowTemplate
gets the template's spec with the Workflow's overrides.
"""

from __future__ import annotations

from typing import Any

from foredeck.pipeline.argo.fields import (
    IGNORED_CRON,
    IGNORED_SPEC,
    as_list,
    as_map,
    at,
    check_keys,
    fail,
    name_of,
    src,
)
from foredeck.pipeline.argo.metadata import document_values
from foredeck.pipeline.argo.pod import CARRIED_SPEC, with_defaults
from foredeck.pipeline.argo.state import Collection, Workflow
from foredeck.pipeline.argo.workflow import convert
from foredeck.pipeline.argo_manifest import ARGO_API
from foredeck.pipeline.leases import pipeline_leases
from foredeck.pipeline.model import Pipeline
from foredeck.types import UNKNOWN
from foredeck.yamlsrc import Document, SourceMap


def _pipeline_name(meta: Any) -> str:
    if isinstance(meta, dict):
        if isinstance(meta.get("name"), str) and meta["name"]:
            return str(meta["name"])
        if isinstance(meta.get("generateName"), str) and meta["generateName"]:
            return str(meta["generateName"]).rstrip("-.") or "workflow"
    return "workflow"


def _collection(doc: SourceMap, spec: SourceMap, prefix: str) -> Collection:
    templates: dict[str, SourceMap] = {}
    defaults = None
    if spec.get("templateDefaults") is not None:
        where = "spec.templateDefaults"
        defaults = as_map(spec["templateDefaults"], at(spec, "templateDefaults"), where)
    for raw in as_list(spec.get("templates"), at(spec, "templates"), "spec.templates"):
        template = as_map(raw, at(spec, "templates"), "spec.templates")
        name = name_of(template, "template")
        if name in templates:
            raise fail(at(template, "name"), f"duplicate template name {name!r}")
        templates[name] = with_defaults(template, defaults)
    return Collection(templates, prefix, src(doc))


def load_argo(documents: list[Document]) -> Pipeline:
    """Convert the Argo documents of one input into a pipeline.

    The input holds one `Workflow` (or `CronWorkflow`), or a single `WorkflowTemplate`, plus any
    `WorkflowTemplate`s its `templateRef`s / `workflowTemplateRef` name.
    """
    docs: list[SourceMap] = []
    for document in documents:
        data = document.data
        if not isinstance(data, dict) or data.get("apiVersion") != ARGO_API:
            continue
        docs.append(as_map(data, document.source, "document"))
    if not docs:
        source = documents[0].source if documents else UNKNOWN
        raise fail(source, f"no {ARGO_API} documents")
    kinds = {"Workflow", "CronWorkflow", "WorkflowTemplate", "ClusterWorkflowTemplate"}
    mains: list[SourceMap] = []
    wft_docs: dict[str, SourceMap] = {}
    for doc in docs:
        kind = doc.get("kind")
        if kind not in kinds:
            raise fail(at(doc, "kind"), f"unsupported Argo kind {kind!r}")
        if kind in ("Workflow", "CronWorkflow"):
            mains.append(doc)
        else:
            wft_docs[_pipeline_name(doc.get("metadata"))] = doc
    if len(mains) > 1:
        raise fail(src(mains[1]), "more than one Workflow in the input; run them one at a time")
    if not mains and len(wft_docs) != 1:
        raise fail(src(docs[0]), "several WorkflowTemplates and no Workflow: nothing to run")
    main = mains[0] if mains else next(iter(wft_docs.values()))
    spec = as_map(main.get("spec"), at(main, "spec"), str(main.get("kind")))
    if main.get("kind") == "CronWorkflow":
        check_keys(spec, {"workflowSpec"}, IGNORED_CRON, "CronWorkflow spec")
        spec = as_map(spec.get("workflowSpec"), at(spec, "workflowSpec"), "spec.workflowSpec")
    wfts = {}
    for name, wft in wft_docs.items():
        wft_spec = as_map(wft.get("spec"), at(wft, "spec"), f"WorkflowTemplate {name!r}")
        wfts[name] = _collection(wft, wft_spec, f"{name}-")
    if "workflowTemplateRef" in spec:
        spec = _merge_ref(spec, wft_docs)
    coll = _collection(main, spec, "")
    w = Workflow(spec, coll, wfts, known=document_values(main.get("metadata"), spec))
    pipeline = convert(w, _pipeline_name(main.get("metadata")), src(main))
    pipeline.leases = pipeline_leases(main.get("metadata"), src(main))
    return pipeline


def _merge_ref(spec: SourceMap, wft_docs: dict[str, SourceMap]) -> SourceMap:
    """A Workflow running a WorkflowTemplate: the template's spec with the Workflow's overrides."""
    ref = as_map(
        spec["workflowTemplateRef"], at(spec, "workflowTemplateRef"), "workflowTemplateRef"
    )
    check_keys(ref, {"name", "clusterScope"}, set(), "spec.workflowTemplateRef")
    name = ref.get("name")
    if name not in wft_docs:
        message = f"spec.workflowTemplateRef: WorkflowTemplate {name!r} is not among the inputs"
        raise fail(at(ref, "name"), message)
    allowed = {"workflowTemplateRef", "arguments", "entrypoint", "onExit", "activeDeadlineSeconds"}
    overrides = CARRIED_SPEC | {"templateDefaults"}  # the Workflow's own win, as in Argo
    check_keys(spec, allowed | overrides, IGNORED_SPEC, "spec (with workflowTemplateRef)")
    base = as_map(wft_docs[str(name)].get("spec"), src(wft_docs[str(name)]), "spec")
    merged = SourceMap(base)
    merged.source = base.source
    merged.key_sources = dict(base.key_sources)
    for key in ("entrypoint", "onExit", "activeDeadlineSeconds", *sorted(overrides)):
        if key in spec:
            merged[key] = spec[key]
            merged.key_sources[key] = spec.at(key)
    if "arguments" in spec:
        given = as_map(spec["arguments"], spec.at("arguments"), "spec.arguments")
        values = {
            p.get("name"): p for p in as_list(given.get("parameters"), given.at("parameters"), "x")
        }
        base_args = as_map(base.get("arguments") or {}, base.at("arguments"), "spec.arguments")
        params = []
        for p in as_list(base_args.get("parameters"), base_args.at("parameters"), "x"):
            params.append(values.pop(p.get("name"), p))
        params.extend(values.values())
        args = SourceMap({"parameters": params})
        args.source = given.source
        args.key_sources = {"parameters": given.at("parameters")}
        merged["arguments"] = args
        merged.key_sources["arguments"] = spec.at("arguments")
    return merged
