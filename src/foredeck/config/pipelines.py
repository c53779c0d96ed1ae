"""From a job to the pipeline it runs: a Prow pod `spec`, or foredeck's `pipeline:` extension.

`pipeline:` is either a path in the tested repository (one line; read from the checkout when the
job runs) or an inline Tekton/Argo pipeline (a nested mapping, or a multi-line string of YAML),
which is parsed at load time so that a broken pipeline is a config error, not a failed run.
Inline pipelines are re-read from the config file's own lines, so their errors still name the
config file's `file:line`.
"""

from __future__ import annotations

import copy
from pathlib import Path, PurePosixPath
from typing import Any

from foredeck.config.models import JobBase
from foredeck.pipeline.load import load_pipeline_text, run_from_documents
from foredeck.pipeline.model import (
    ParamValue,
    Pipeline,
    PipelineRunSpec,
    PipelineTask,
    Step,
    TaskSpec,
)
from foredeck.types import PipelineError, Source
from foredeck.yamlsrc import MAX_YAML_BYTES, Document, SourceMap


def locate(raw: Any, path: tuple[str | int, ...], default: Source) -> Source:
    """The deepest known source position along `path` inside a loaded mapping."""
    node = raw
    where = raw.source if isinstance(raw, SourceMap) else default
    for part in path:
        if isinstance(node, dict) and part in node:
            if isinstance(node, SourceMap) and isinstance(part, str):
                where = node.at(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, SourceMap):
                where = node.source
        else:
            break
    return where


def check_pipeline_path(path: str) -> str | None:
    """Why `path` cannot name a file inside the repository, or None when it can."""
    p = PurePosixPath(path.strip())
    if not path.strip():
        return "pipeline path is empty"
    if p.is_absolute() or ".." in p.parts:
        return f"pipeline path {path!r} must be relative and stay inside the repository"
    return None


# --- inline pipelines


def _file_lines(source: Source) -> list[str] | None:
    try:
        with open(source.file, encoding="utf-8") as f:
            return f.read(MAX_YAML_BYTES + 1).splitlines()
    except (OSError, UnicodeDecodeError):
        return None


def _string_text(value: str, key: Source, lines: list[str] | None) -> str:
    """A block scalar's text, preceded by blank lines so line N is the file's line N."""
    first = next((ln.strip() for ln in value.splitlines() if ln.strip()), "")
    pad = key.line  # content usually starts on the line after the key
    if lines is not None and first:
        for i in range(max(key.line - 1, 0), len(lines)):
            if lines[i].strip() == first:
                leading_newlines = len(value) - len(value.lstrip("\n"))
                pad = i - leading_newlines
                break
    return "\n" * max(pad, 0) + value


def parse_inline_pipeline(job: JobBase) -> PipelineRunSpec:
    """Parse and validate the job's inline pipeline.

    A nested mapping (or list of documents) is handed over as already loaded, so every position
    inside it is the config file's own; YAML text is parsed with its lines aligned to the file.
    Raises `PipelineError` (with `file:line`) when the pipeline is invalid.
    """
    params = dict(job.pipeline_params) or None
    value = job.raw.get("pipeline", job.pipeline)
    key = job.raw.at("pipeline") if isinstance(job.raw, SourceMap) else job.source
    if isinstance(value, dict | list):
        items = value if isinstance(value, list) else [value]
        docs = [Document(d, d.source if isinstance(d, SourceMap) else key) for d in items]
        return run_from_documents(docs, params, key)
    if isinstance(value, str):
        text = _string_text(value, key, _file_lines(key))
        return load_pipeline_text(text, key.file, params=params)
    raise PipelineError(key, "pipeline must be a path, a mapping, a list of documents or YAML text")


# --- the pipeline a job runs


def spec_pipeline(job: JobBase) -> PipelineRunSpec:
    """A Prow pod spec as a one-task pipeline: one step per container, in order.

    Prow runs a pod's containers side by side; here they run one after another in the same task
    (foredeck's IR has no sidecars), which is the same for the common single-container job.
    """
    spec = job.spec
    if spec is None:
        raise PipelineError(job.source, f"job {job.name}: has no spec")
    steps: list[Step] = []
    for i, c in enumerate(spec.containers):
        name = c.name or ("test" if len(spec.containers) == 1 else f"container-{i}")
        steps.append(
            Step(
                name=name,
                image=c.image,
                command=list(c.command),
                args=list(c.args),
                env={e.name: e.value for e in c.env if e.value_from is None},
                working_dir=c.working_dir,
                source=locate(job.raw, ("spec", "containers", i), job.source),
            )
        )
    where = locate(job.raw, ("spec",), job.source)
    task = PipelineTask(
        name="test",
        task_spec=TaskSpec(name=job.name, steps=steps, source=where),
        source=where,
    )
    pipeline = Pipeline(
        name=job.name,
        tasks=[task],
        timeout=job.timeout_seconds,
        description=f"{type(job).KIND} {job.name}",
        source=job.source,
    )
    return PipelineRunSpec(pipeline=pipeline, name=job.name)


def _read_repo_file(repo_dir: Path, rel: str, where: Source) -> str:
    problem = check_pipeline_path(rel)
    if problem:
        raise PipelineError(where, problem)
    root = repo_dir.resolve()
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise PipelineError(where, f"pipeline path {rel!r} leaves the repository")
    try:
        if target.stat().st_size > MAX_YAML_BYTES:
            raise PipelineError(where, f"pipeline file {rel} is larger than {MAX_YAML_BYTES} bytes")
        return target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(where, f"pipeline file {rel} not found in the repository") from None
    except UnicodeDecodeError:
        raise PipelineError(where, f"pipeline file {rel} is not UTF-8 text") from None
    except OSError as exc:
        raise PipelineError(where, f"cannot read pipeline file {rel}: {exc.strerror}") from None


def _add_env(run: PipelineRunSpec, env: dict[str, str]) -> None:
    specs = [t.task_spec for t in run.pipeline.all_tasks() if t.task_spec is not None]
    for spec in [*specs, *run.pipeline.task_library.values()]:
        for step in spec.steps:
            for name, value in env.items():
                step.env.setdefault(name, value)


def job_pipeline(job: JobBase, repo_dir: Path | None) -> PipelineRunSpec:
    """The pipeline run for `job`; `repo_dir` is the checkout a `pipeline:` path is read from.

    Env from matching presets is added to every step of a `pipeline:` job (a step's own value
    wins). Raises `PipelineError` naming `file:line` when the pipeline cannot be built.
    """
    where = locate(job.raw, ("pipeline",), job.source)
    params: dict[str, ParamValue] = dict(job.pipeline_params)
    if job.pipeline is None:
        run = spec_pipeline(job)
    elif job.pipeline_path is not None:
        if repo_dir is None:
            raise PipelineError(where, f"job {job.name}: pipeline path needs a repository checkout")
        rel = job.pipeline_path.strip()
        text = _read_repo_file(repo_dir, rel, where)
        run = load_pipeline_text(text, rel, params=params or None)
    else:
        run = copy.deepcopy(job.inline_pipeline or parse_inline_pipeline(job))
    if job.preset_env:
        _add_env(run, job.preset_env)
    if not run.name:
        run.name = job.name
    return run
