"""Tekton artifacts (alpha, TEP-0147) on the host: the provenance JSON a task's steps write.

A step writes `{"inputs": [{"name": N, "values": [...]}], "outputs": [...]}` to
`$(artifacts.path)` (the task's file) or `$(step.artifacts.path)` (its own); both are files of
the attempt's directory, substituted into the steps before they run. When the attempt ends the
files are read and merged by kind and name, in step order, as the TaskRun's status lists them:
`$(tasks.T.outputs.N)` is then the JSON of that artifact's `values`. A file that is not such
JSON fails the attempt with the reason.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from foredeck.pipeline.expressions import substitute, substitute_list
from foredeck.pipeline.model import ParamValue, Step, TaskSpec

_KINDS = ("inputs", "outputs")


def uses_artifacts(spec: TaskSpec) -> bool:
    return any("artifacts.path" in text for step in spec.steps for text in step.texts())


def with_paths(step: Step, directory: Path) -> Step:
    """`step` with `$(artifacts.path)` and `$(step.artifacts.path)` as files of `directory`."""
    paths = {
        "artifacts.path": str(directory / "task.json"),
        "step.artifacts.path": str(directory / f"step-{step.name}.json"),
    }

    def lookup(path: str) -> ParamValue | None:
        return paths.get(path)

    def one(text: str) -> str:
        return substitute(text, lookup, strict=False) if "artifacts.path" in text else text

    return replace(
        step,
        command=substitute_list(step.command, lookup, strict=False),
        args=substitute_list(step.args, lookup, strict=False),
        script=None if step.script is None else one(step.script),
        env={k: one(v) for k, v in step.env.items()},
    )


def read(directory: Path, steps: list[Step]) -> dict[str, str]:
    """`kind.name` -> the JSON of the artifact's values, from the files the steps wrote.
    Raises ValueError naming a file that is not provenance JSON."""
    merged: dict[str, list[Any]] = {}
    files = [directory / f"step-{s.name}.json" for s in steps] + [directory / "task.json"]
    for path in files:
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text() or "{}")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"artifacts file {path.name}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"artifacts file {path.name}: not a JSON object")
        for kind in _KINDS:
            for item in data.get(kind) or []:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    raise ValueError(f"artifacts file {path.name}: {kind} items need a name")
                values = item.get("values") or []
                if not isinstance(values, list):
                    raise ValueError(f"artifacts file {path.name}: values must be a list")
                merged.setdefault(f"{kind}.{item['name']}", []).extend(values)
    return {k: json.dumps(v, separators=(",", ":"), sort_keys=True) for k, v in merged.items()}
