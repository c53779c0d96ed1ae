"""From files (or inline YAML) and `-p` values to a validated `PipelineRunSpec`.

Documents may be spread over several files and several `---` documents per file: Tasks in one
file, the Pipeline in another, a PipelineRun in a third. Other Kubernetes objects (ConfigMaps,
PVCs, RBAC ...) are kept as cluster objects (`objects.py`). The front end is chosen by
`apiVersion`; the pipeline to run is the PipelineRun's, else the only Pipeline, else the only
Task. Param values
layer as defaults < PipelineRun < command line, and the result is validated before it is
returned, so every error a user can make in a file surfaces here with its file:line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from foredeck.pipeline import objects, tekton
from foredeck.pipeline.argo_manifest import ARGO_API
from foredeck.pipeline.model import (
    ClusterObject,
    ParamSpec,
    ParamValue,
    Pipeline,
    PipelineResult,
    PipelineRunSpec,
    PipelineTask,
    TaskSpec,
    WorkspaceDecl,
)
from foredeck.pipeline.validate import validate
from foredeck.types import PipelineError, Source
from foredeck.yamlsrc import Document, SourceMap, load_documents, load_file

SUPPORTED_API_VERSIONS = (tekton.API_VERSION, ARGO_API)
COMMAND_LINE = Source("command line", 0)
_YAML_SUFFIXES = (".yaml", ".yml")


def parse_param_args(args: Iterable[str]) -> dict[str, str]:
    """`-p NAME=VALUE` arguments; array and object values are JSON, decoded by `load_run`."""
    out: dict[str, str] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name.strip():
            raise PipelineError(COMMAND_LINE, f"-p {arg!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def _expand(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in _YAML_SUFFIXES and p.is_file())
            if not found:
                raise PipelineError(Source(str(path), 0), "directory has no .yaml/.yml files")
            files.extend(found)
        else:
            files.append(path)
    return files


def load_run(
    paths: Sequence[Path], params: Mapping[str, ParamValue] | None = None
) -> PipelineRunSpec:
    """Load, select, merge params and validate. Raises `PipelineError` naming file:line."""
    if not paths:
        raise PipelineError(COMMAND_LINE, "no pipeline files given")
    docs: list[Document] = []
    for path in _expand(paths):
        docs.extend(load_file(path))
    return run_from_documents(docs, params, Source(str(paths[0]), 1))


def load_pipeline_text(
    text: str, filename: str, params: Mapping[str, ParamValue] | None = None
) -> PipelineRunSpec:
    """The same as `load_run` for YAML held in memory (a job config's inline `pipeline:`)."""
    return run_from_documents(load_documents(text, filename), params, Source(filename, 1))


def run_from_documents(
    docs: Sequence[Document],
    params: Mapping[str, ParamValue] | None = None,
    origin: Source = COMMAND_LINE,
) -> PipelineRunSpec:
    """Dispatch on `apiVersion`, pick the pipeline, merge params and validate."""
    if not docs:
        raise PipelineError(origin, "no YAML documents found")
    tekton_docs: list[Document] = []
    argo_docs: list[Document] = []
    cluster: list[ClusterObject] = []
    for doc in docs:
        if not isinstance(doc.data, SourceMap):
            raise PipelineError(doc.source, f"document must be a mapping, got {_kind(doc.data)}")
        api = doc.data.get("apiVersion")
        if api == tekton.API_VERSION:
            tekton_docs.append(doc)
        elif api in tekton.STEP_ACTION_APIS and doc.data.get("kind") == "StepAction":
            tekton_docs.append(doc)  # also a cluster object: `--emit tekton` keeps the refs
            cluster.append(objects.cluster_object(doc))
        elif api == ARGO_API:
            argo_docs.append(doc)
        elif isinstance(api, str) and api and not objects.is_engine_api(api):
            cluster.append(objects.cluster_object(doc))
        else:
            where = doc.data.at("apiVersion") if api is not None else doc.source
            found = f"unsupported apiVersion {api!r}" if api is not None else "no apiVersion"
            raise PipelineError(where, f"{found} (supported: {', '.join(SUPPORTED_API_VERSIONS)})")
    if not tekton_docs and not argo_docs:
        found = ", ".join(o.label for o in cluster)
        raise PipelineError(origin, f"no Tekton or Argo documents (only {found})")
    maps = objects.config_maps(docs)
    if tekton_docs and argo_docs:
        raise PipelineError(
            argo_docs[0].source, "cannot mix Tekton and Argo documents in one pipeline"
        )
    run_params: dict[str, ParamValue] = {}
    run_sources: dict[str, Source] = {}
    name = ""
    if argo_docs:
        from foredeck.pipeline.argo import load_argo  # a Tekton run need not import it (~40 ms)

        pipeline = load_argo(objects.resolve_config_refs(argo_docs, maps, cluster))
    else:
        pipeline, run = _select_tekton(objects.resolve_config_refs(tekton_docs, maps, cluster))
        if run is not None:
            run_params, run_sources, name = run.params, run.param_sources, run.name
    values = _merge(pipeline, run_params, run_sources, params or {})
    validate(pipeline, values)
    resolved: dict[str, ParamValue] = {}
    for spec in pipeline.params:
        value = values.get(spec.name, spec.default)
        if value is not None:
            resolved[spec.name] = value
    return PipelineRunSpec(
        pipeline=pipeline,
        params=resolved,
        name=name or pipeline.name,
        cluster_objects=cluster,
        config_maps=maps,
    )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _select_tekton(docs: list[Document]) -> tuple[Pipeline, tekton.TektonRun | None]:
    parsed = tekton.parse_documents(docs)
    library: dict[str, TaskSpec] = {}
    for task in parsed.tasks:
        if task.name in library:
            raise PipelineError(
                task.source, f"duplicate Task {task.name!r} (also at {library[task.name].source})"
            )
        library[task.name] = task
    run: tekton.TektonRun | None = None
    every_run = [(r.name, r.source) for r in parsed.runs]
    every_run += [(r.name, r.source) for r in parsed.task_runs]
    if len(every_run) > 1:
        names = ", ".join(name for name, _ in every_run)
        kind = "runs" if parsed.task_runs else "PipelineRuns"
        raise PipelineError(every_run[1][1], f"several {kind} ({names}); give exactly one")
    if parsed.task_runs:
        pipeline, run = _task_run(parsed.task_runs[0], library)
    elif parsed.runs:
        if len(parsed.runs) > 1:
            names = ", ".join(r.name for r in parsed.runs)
            raise PipelineError(
                parsed.runs[1].source, f"several PipelineRuns ({names}); give exactly one"
            )
        run = parsed.runs[0]
        if run.pipeline is not None:
            pipeline = run.pipeline
        else:
            matches = [p for p in parsed.pipelines if p.name == run.pipeline_ref]
            if not matches:
                known = ", ".join(p.name for p in parsed.pipelines) or "none loaded"
                raise PipelineError(
                    run.ref_source,
                    f"PipelineRun {run.name!r} refers to unknown Pipeline {run.pipeline_ref!r}"
                    f" (loaded: {known})",
                )
            if len(matches) > 1:
                raise PipelineError(
                    matches[1].source,
                    f"duplicate Pipeline {matches[1].name!r} (also at {matches[0].source})",
                )
            pipeline = matches[0]
        tekton.apply_run(run, pipeline)
    elif parsed.pipelines:
        pipeline = _root_pipeline(parsed.pipelines)
    elif len(parsed.tasks) == 1:
        pipeline = single_task_pipeline(parsed.tasks[0])
    else:
        names = ", ".join(f"{t.name} ({t.source})" for t in parsed.tasks)
        raise PipelineError(
            parsed.tasks[1].source, f"several Tasks and no Pipeline or PipelineRun: {names}"
        )
    tekton.link_pipelines(pipeline, parsed.pipelines, library)
    return pipeline, run


def _task_run(
    task_run: tekton.TektonTaskRun, library: dict[str, TaskSpec]
) -> tuple[Pipeline, tekton.TektonRun]:
    """A TaskRun as a one-task pipeline and the run that gives it its values."""
    task = task_run.task
    if task is None:
        task = library.get(str(task_run.task_ref))
        if task is None:
            known = ", ".join(sorted(library)) or "none loaded"
            raise PipelineError(
                task_run.ref_source,
                f"TaskRun {task_run.name!r} refers to unknown Task {task_run.task_ref!r}"
                f" (loaded: {known})",
            )
    else:
        library[task.name] = task  # the inline spec, under the TaskRun's name
    pipeline = single_task_pipeline(task)
    node = pipeline.tasks[0]
    node.timeout = task_run.timeout
    node.retries = task_run.retries
    if task_run.settings.fields():
        pipeline.task_run_specs[node.name] = task_run.settings
    run = tekton.TektonRun(task_run.name, None, pipeline, task_run.params, task_run.param_sources)
    declared = {param.name for param in pipeline.params}
    for name in list(run.params):
        if name not in declared:  # Tekton ignores a param the Task does not declare
            del run.params[name]
            pipeline.ignored_params.append(name)
    return pipeline, run


def _root_pipeline(pipelines: list[Pipeline]) -> Pipeline:
    """With no PipelineRun: the only Pipeline, or the only one no other runs (pipelineRef)."""
    called = {t.graph_ref for p in pipelines for t in p.all_tasks() if t.graph_ref is not None}
    roots = [p for p in pipelines if p.name not in called]
    if len(pipelines) == 1 or len(roots) == 1:
        return pipelines[0] if len(pipelines) == 1 else roots[0]
    names = ", ".join(f"{p.name} ({p.source})" for p in pipelines)
    raise PipelineError(
        pipelines[1].source,
        f"several Pipelines and no PipelineRun to choose one: {names}",
    )


def single_task_pipeline(task: TaskSpec) -> Pipeline:
    """Run a lone Task as a one-task pipeline exposing the Task's params, workspaces, results."""
    node = PipelineTask(name=task.name, task_ref=task.name, source=task.source)
    pipeline = Pipeline(name=task.name, tasks=[node], source=task.source)
    for param in task.params:
        pipeline.params.append(
            ParamSpec(param.name, param.type, param.default, param.description, param.source)
        )
        star = "[*]" if param.type != "string" else ""
        node.params[param.name] = f"$(params.{param.name}{star})"
    for ws in task.workspaces:
        pipeline.workspaces.append(WorkspaceDecl(ws.name, ws.optional, ws.description, ws.source))
        node.workspaces[ws.name] = ws.name
    for result in task.results:
        star = "[*]" if result.type != "string" else ""
        value = f"$(tasks.{task.name}.results.{result.name}{star})"
        pipeline.results.append(PipelineResult(result.name, value, source=result.source))
    return pipeline


def _coerce(spec: ParamSpec, value: ParamValue) -> ParamValue:
    """Command-line values arrive as text; array and object params take JSON there."""
    if spec.type == "string" or not isinstance(value, str):
        return value
    example = '["a","b"]' if spec.type == "array" else '{"key":"value"}'
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    ok = (
        isinstance(parsed, list) and all(isinstance(v, str) for v in parsed)
        if spec.type == "array"
        else isinstance(parsed, dict) and all(isinstance(v, str) for v in parsed.values())
    )
    if not ok:
        raise PipelineError(
            spec.source,
            f"param {spec.name!r} is an {spec.type}: give it as JSON of strings,"
            f" e.g. -p {spec.name}='{example}'",
        )
    return cast(ParamValue, parsed)


def _merge(
    pipeline: Pipeline,
    run_params: Mapping[str, ParamValue],
    run_sources: Mapping[str, Source],
    cli: Mapping[str, ParamValue],
) -> dict[str, ParamValue]:
    declared = {p.name: p for p in pipeline.params}
    known = ", ".join(declared) or "none"
    values: dict[str, ParamValue] = {}
    for name, value in run_params.items():
        if name not in declared:
            raise PipelineError(
                run_sources.get(name, pipeline.source),
                f"PipelineRun param {name!r} is not declared by pipeline {pipeline.name!r}"
                f" (declared: {known})",
            )
        values[name] = value
    for name, value in cli.items():
        if name not in declared:
            raise PipelineError(
                pipeline.source,
                f"unknown param {name!r} given with -p; pipeline {pipeline.name!r}"
                f" declares: {known}",
            )
        values[name] = _coerce(declared[name], value)
    return values
