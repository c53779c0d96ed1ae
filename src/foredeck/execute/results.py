"""Reading task results back from `$(results.R.path)` files, with Tekton's size limit."""

from __future__ import annotations

import json
from pathlib import Path

from foredeck.execute.workspace import SAFE_NAME
from foredeck.pipeline.model import ParamValue, ResultSpec

# Tekton's limit for results read from the termination message (4 KiB).
RESULT_LIMIT = 4096


class ResultError(ValueError):
    pass


def _parse(spec: ResultSpec, text: str) -> ParamValue:
    if spec.type == "string":
        return text.rstrip("\n")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ResultError(f"result {spec.name!r} is not valid JSON ({spec.type}): {exc}") from exc
    if spec.type == "array":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise ResultError(f"result {spec.name!r} must be a JSON array of strings")
    if isinstance(value, dict) and all(isinstance(item, str) for item in value.values()):
        return value
    raise ResultError(f"result {spec.name!r} must be a JSON object of strings")


def read_results(specs: list[ResultSpec], results_dir: Path) -> dict[str, ParamValue]:
    """The declared results a task wrote; a result it did not write is absent.

    Raises ResultError for a result over the limit or of the wrong shape, which fails the task
    as it fails a TaskRun in Tekton.
    """
    values: dict[str, ParamValue] = {}
    for spec in specs:
        if not SAFE_NAME.fullmatch(spec.name):
            continue
        try:
            with open(results_dir / spec.name, "rb") as handle:
                data = handle.read(RESULT_LIMIT + 1)
        except FileNotFoundError:
            continue
        if len(data) > RESULT_LIMIT:
            raise ResultError(f"result {spec.name!r} is over the {RESULT_LIMIT}-byte limit")
        values[spec.name] = _parse(spec, data.decode("utf-8", errors="replace"))
    return values
