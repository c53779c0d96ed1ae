"""Prow's job artifact layout: the file names and the content of `started.json`/`finished.json`.

Spyglass, Testgrid and `gsutil`-based tools read these files, so the names and fields follow
Prow's `pkg/pod-utils` metadata (`timestamp` is epoch seconds, `result` is SUCCESS, FAILURE or
ABORTED). Pure helpers over a local directory: the artifact store uploads what they wrote.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

STARTED = "started.json"
FINISHED = "finished.json"
BUILD_LOG = "build-log.txt"
ARTIFACTS_DIR = "artifacts"
PIPELINE_RUN = "pipeline-run.json"

ProwResult = Literal["SUCCESS", "FAILURE", "ABORTED", "ERROR"]
"""`ERROR`: the job never ran or its controller died (crier reports the ProwJob state so)."""


def write_json_atomic(path: Path, data: Mapping[str, Any], *, indent: int | None = 2) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one.

    No fsync: this protects readers (a dashboard, an uploader), not against power loss, and a
    run writes these files too often to pay for a disk flush each time. `indent=None` selects
    the C encoder, several times faster on large documents.
    """
    text = json.dumps(data, indent=indent, separators=None if indent else (",", ":"))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def started(timestamp: float, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"timestamp": int(timestamp)}
    if metadata:
        data["metadata"] = dict(metadata)
    return data


def finished(
    timestamp: float,
    *,
    passed: bool,
    result: ProwResult,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"timestamp": int(timestamp), "passed": passed, "result": result}
    if metadata:
        data["metadata"] = dict(metadata)
    return data


def write_started(
    out_dir: Path, timestamp: float, metadata: Mapping[str, Any] | None = None
) -> Path:
    path = out_dir / STARTED
    write_json_atomic(path, started(timestamp, metadata))
    return path


def write_finished(
    out_dir: Path,
    timestamp: float,
    *,
    passed: bool,
    result: ProwResult,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    path = out_dir / FINISHED
    write_json_atomic(path, finished(timestamp, passed=passed, result=result, metadata=metadata))
    return path
