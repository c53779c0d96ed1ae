"""What the controller adds to a run's output before it is published, and the publishing.

Beside the executor's `started.json`, `finished.json`, `build-log.txt` and `artifacts/`, a build
directory gets Prow's `clone-records.json` and `prowjob.json` (the job as a ProwJob: spec and
status), and `started.json` gets Prow's `pull`, `repos` and `repo-commit` fields, which Spyglass
and Testgrid read. A job that never ran its pipeline (checkout or config error) still gets a
build directory, with the reason in `build-log.txt` and `"result": "ERROR"` in `finished.json`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from foredeck.censor import Censor
from foredeck.censor.files import censor_tree
from foredeck.controller.env import pull_refs_string, refs_fields
from foredeck.controller.workspace import CLONE_RECORDS
from foredeck.db.models import Job
from foredeck.execute.logs import timestamp
from foredeck.storage import prow
from foredeck.storage.layout import JobPaths, JobType, job_paths
from foredeck.storage.publish import publish_run
from foredeck.storage.store import ArtifactStore
from foredeck.storage.tasklog import TASK_LOG_INDEX
from foredeck.types import Refs

PROWJOB = "prowjob.json"

log = logging.getLogger(__name__)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def prowjob(
    job: Job,
    *,
    build_id: str,
    state: str,
    description: str,
    url: str | None,
    finished: datetime | None,
    agent: str | None = None,
) -> dict[str, Any]:
    """The job as Prow's `ProwJob` object (`prow.k8s.io/v1`), with the outcome being recorded.

    `agent` is where the job ran (`local`, `argo`, `tekton`: `kube.default_agent` resolved);
    without it, the agent the job asked for."""
    config = dict(job.job_config or {})
    labels = {
        "created-by-prow": "true",
        "prow.k8s.io/job": job.name,
        "prow.k8s.io/type": job.type,
        "prow.k8s.io/build-id": build_id,
        "prow.k8s.io/id": str(job.id),
    }
    if job.org:
        labels["prow.k8s.io/refs.org"] = job.org
    if job.repo:
        labels["prow.k8s.io/refs.repo"] = job.repo
    if job.base_ref:
        labels["prow.k8s.io/refs.base_ref"] = job.base_ref
    if job.pull_number is not None:
        labels["prow.k8s.io/refs.pull"] = str(job.pull_number)
    labels.update({k: str(v) for k, v in (config.get("labels") or {}).items()})
    spec: dict[str, Any] = {
        "type": job.type,
        "agent": agent or job.agent or config.get("agent", "kubernetes"),
        "cluster": config.get("cluster", "default"),
        "job": job.name,
        "report": not config.get("skip_report", False),
        "context": job.context or job.name,
        "max_concurrency": config.get("max_concurrency", 0),
    }
    for key in ("namespace", "rerun_command", "decoration_config", "reporter_config"):
        if config.get(key):
            spec[key] = config[key]
    spec.update(refs_fields(job))
    if config.get("spec"):
        spec["pod_spec"] = config["spec"]
    if config.get("pipeline") is not None:
        spec["pipeline"] = config["pipeline"]
    status: dict[str, Any] = {
        "startTime": _iso(job.started_at),
        "state": state,
        "description": description,
        "build_id": build_id,
    }
    if finished is not None:
        status["completionTime"] = _iso(finished)
    if url:
        status["url"] = url
    return {
        "kind": "ProwJob",
        "apiVersion": "prow.k8s.io/v1",
        "metadata": {
            "name": str(job.id),
            "creationTimestamp": _iso(job.created_at),
            "labels": labels,
            "annotations": {"prow.k8s.io/job": job.name, **(config.get("annotations") or {})},
        },
        "spec": spec,
        "status": status,
    }


def write_unrun(out: Path, message: str, result: str, started: float) -> None:
    """The build directory of a job whose pipeline never ran (or never finished writing)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / prow.STARTED).exists():
        prow.write_started(out, started)
    with open(out / prow.BUILD_LOG, "a", encoding="utf-8") as log:
        log.write(f"{timestamp(time.time()).decode()} [foredeck] {message}\n")
    finished = {"timestamp": int(time.time()), "passed": False, "result": result}
    prow.write_json_atomic(out / prow.FINISHED, finished)


def add_metadata(out: Path, values: dict[str, Any]) -> None:
    """Add `values` to `finished.json`'s metadata (what the run page and Prow's readers show)."""
    path = out / prow.FINISHED
    try:
        finished = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(finished, dict):
        return
    metadata = finished.get("metadata")
    finished["metadata"] = {**(metadata if isinstance(metadata, dict) else {}), **values}
    prow.write_json_atomic(path, finished)


def complete_out(
    out: Path,
    job: Job,
    workspace: Path,
    *,
    final_sha: str,
    prowjob_data: dict[str, Any],
) -> None:
    """Add clone records, Prow's refs fields in `started.json`, and `prowjob.json`."""
    out.mkdir(parents=True, exist_ok=True)
    records = workspace / CLONE_RECORDS
    if records.is_file():
        shutil.copyfile(records, out / CLONE_RECORDS)
    started_path = out / prow.STARTED
    try:
        started = json.loads(started_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        started = {"timestamp": int(time.time())}
    if job.refs:
        refs = Refs.model_validate(job.refs)
        repos = {f"{refs.org}/{refs.repo}": pull_refs_string(refs)}
        for extra in job.extra_refs or []:
            other = Refs.model_validate(extra)
            repos[f"{other.org}/{other.repo}"] = pull_refs_string(other)
        started["repos"] = repos
        started["repo"] = f"{refs.org}/{refs.repo}"
        if len(refs.pulls) == 1:
            started["pull"] = str(refs.pulls[0].number)
        if final_sha:
            started["repo-commit"] = final_sha
            started["repo-version"] = final_sha
    prow.write_json_atomic(started_path, started)
    images = pushed_images(out)
    if images:  # one reference a line: annotations are strings
        annotations = prowjob_data.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[IMAGES_ANNOTATION] = "\n".join(images)
    prow.write_json_atomic(out / PROWJOB, prowjob_data)


IMAGES_ANNOTATION = "foredeck.dev/images"


def pushed_images(out: Path) -> list[str]:
    """The images the run pushed (`REF@DIGEST`), as its `finished.json` metadata lists them."""
    try:
        finished = json.loads((out / prow.FINISHED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    metadata = finished.get("metadata") if isinstance(finished, dict) else None
    images = metadata.get("images") if isinstance(metadata, dict) else None
    if not isinstance(images, list):
        return []
    return [image for image in images if isinstance(image, str)]


def target(job: Job, build_id: str) -> JobPaths:
    """Where the build goes in Prow's layout."""
    if job.type not in ("presubmit", "postsubmit", "periodic", "batch"):
        raise ValueError(f"unknown job type {job.type!r}")
    job_type = cast(JobType, job.type)
    return job_paths(job_type, job.org, job.repo, job.pull_number, job.name, build_id)


CENSORED_AS_WRITTEN = (prow.BUILD_LOG, TASK_LOG_INDEX)
"""Censored by the executor as it wrote them: a task log is offsets into the build log, which
must not change length afterwards (the index is binary anyway)."""


def censor_out(out: Path, censor: Censor) -> list[str]:
    """Mask the job's secrets in the text files of `out` (artifacts, JUnit reports, the JSON
    files) before they are published; the files that had any, relative to `out`."""
    changed = censor_tree(out, censor, skip=CENSORED_AS_WRITTEN)
    if changed:
        log.info("censored secrets in %d files of %s: %s", len(changed), out, changed[:10])
    return changed


def publish(store: ArtifactStore, paths: JobPaths, out: Path) -> None:
    """Upload `out` (started.json first, finished.json last, then latest-build.txt); a
    `file://` store gets hard links, not copies: nothing writes to `out` any more."""
    publish_run(store, paths, out, link=True)
