"""The `metadata` of an emitted run: its own name, or a `generateName` to be applied again.

A manifest with a fixed name can be created once (`kubectl create -f` fails the second time),
so upstream examples use `generateName`. A run is emitted with `generateName` when it has no
name of its own (empty) or when its name is one (ends with `-`, as a Tekton `PipelineRun`'s
`generateName` is kept by the loader). The loaders name every run, after its pipeline when
nothing else names it, and strip an Argo `generateName`'s `-`: `name_from_documents` recovers
what the input documents said, for `foredeck run --emit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from foredeck.pipeline.model import PipelineRunSpec

RUN_KINDS = frozenset({"Workflow", "PipelineRun"})


def run_metadata(run: PipelineRunSpec, label: Callable[[str], str] = str) -> dict[str, str]:
    """`{"name": run.name}`, or `{"generateName": "<label(base)>-"}` (see the module docstring)."""
    name = run.name
    if name and not name.endswith(("-", ".")):
        return {"name": name}
    base = name.rstrip("-.") or run.pipeline.name
    return {"generateName": f"{label(base)}-"}


def name_from_documents(run: PipelineRunSpec, documents: Iterable[Any]) -> str:
    """The run's name as its documents give it: a `Workflow`'s or `PipelineRun`'s fixed
    `metadata.name`, else its `generateName` as written (`hello-`), else "" (a `Pipeline`,
    `Task` or `WorkflowTemplate`: the run has no name of its own)."""
    for data in documents:
        if not isinstance(data, dict) or data.get("kind") not in RUN_KINDS:
            continue
        meta = data.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        if isinstance(meta.get("name"), str) and meta["name"]:
            return run.name
        generate = meta.get("generateName")
        return generate if isinstance(generate, str) and generate else ""
    return ""
