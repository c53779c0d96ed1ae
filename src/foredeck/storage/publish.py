"""Publish a finished run's output directory to a store, in an order readers can rely on.

`started.json` goes first and `finished.json` after every other file, so a reader that sees
`finished.json` knows the build directory is complete. Only then are the presubmit alias file and
`latest-build.txt` updated (each an atomic replace), so `latest-build.txt` never names a build
whose artifacts are still arriving.

`latest-build.txt` only moves forward: build ids increase with start time, so a slow old build
finishing after a newer one does not take the pointer back. (The read-then-write is not atomic
across publishers; two builds of one job finishing in the same instant may leave the older id, as
Prow's unconditional overwrite can too.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from foredeck.storage.backend import plan_upload
from foredeck.storage.layout import LATEST_BUILD, JobPaths
from foredeck.storage.local import LocalStore
from foredeck.storage.paths import clean_path
from foredeck.storage.store import ArtifactStore

log = logging.getLogger(__name__)

SCRATCH_DIR = ".work"

FIRST = "started.json"
LAST = "finished.json"


@dataclass
class PublishResult:
    build_dir: str
    uploaded: list[str] = field(default_factory=list)
    latest_build_updated: list[str] = field(default_factory=list)
    alias: str | None = None


def _newer(candidate: str, current: str) -> bool:
    try:
        return int(candidate) >= int(current)
    except ValueError:
        return True  # a non-numeric id cannot be ordered; Prow overwrites


def _paths_from_prefix(prefix: str) -> JobPaths:
    build_dir = clean_path(prefix, prefix=True)
    if "/" not in build_dir:
        raise ValueError(f"prefix {prefix!r} must be <job dir>/<build id>")
    parent, build_id = build_dir.rsplit("/", 1)
    return JobPaths(
        build_id=build_id, build_dir=build_dir, latest_build=(f"{parent}/{LATEST_BUILD}",)
    )


def publish_run(
    store: ArtifactStore, target: JobPaths | str, local_out_dir: Path, *, link: bool = False
) -> PublishResult:
    """Upload `local_out_dir` to the build directory, then advance `latest-build.txt`.

    `target` is a `JobPaths` from `layout.job_paths` (all of Prow's pointer files) or a plain
    `<job dir>/<build id>` prefix (one `latest-build.txt` beside the build directory). With
    `link`, a `file://` store gets hard links rather than copies (`LocalStore.link_file`): for a
    run directory that nothing writes any more, so that its bytes are on the disk once.
    """
    paths = _paths_from_prefix(target) if isinstance(target, str) else target
    # `.work` is the executor's scratch (checkouts, build trees, step scripts), not output.
    plan = plan_upload(Path(local_out_dir), paths.build_dir, skip_top=(SCRATCH_DIR,))
    first = [p for p in plan if p[0] == f"{paths.build_dir}/{FIRST}"]
    last = [p for p in plan if p[0] == f"{paths.build_dir}/{LAST}"]
    middle = [p for p in plan if p not in first and p not in last]
    result = PublishResult(build_dir=paths.build_dir)
    put = store.link_file if link and isinstance(store, LocalStore) else store.upload_file
    for dest, local in (*first, *middle, *last):
        put(local, dest)
        result.uploaded.append(dest)

    if paths.alias:
        store.write_text(paths.alias, store.url.rstrip("/") + "/" + paths.build_dir)
        result.alias = paths.alias
    for latest in paths.latest_build:
        current = store.read_bytes(latest).decode().strip() if store.exists(latest) else ""
        if current and not _newer(paths.build_id, current):
            log.info("%s stays at %s (newer than %s)", latest, current, paths.build_id)
            continue
        store.write_text(latest, paths.build_id)
        result.latest_build_updated.append(latest)
    return result
