"""Artifacts lens: what the job saved under `artifacts/`, previewed inline when it is text,
JSON or an image, size-capped; every file of the build listed with its size.

A preview reads at most `PREVIEW_BYTES` of a file (an image is not read at all: the page links
to it, and the browser fetches it from the artifact route, which serves it with `nosniff` and a
sandboxing CSP). Text is escaped by the template; JSON is re-indented only when it is whole.
JUnit files have their own lens and task-log indexes are not for reading, so neither is
previewed.
"""

from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from foredeck.dashboard.view.artifacts import (
    IMAGE_TYPES,
    SNIFF_BYTES,
    TEXT_SUFFIXES,
    BuildFiles,
    looks_like_text,
)
from foredeck.dashboard.view.lenses.base import Lens, LensContext
from foredeck.storage.junit import is_junit
from foredeck.storage.store import Entry
from foredeck.storage.tasklog import TASK_LOG_INDEX

log = logging.getLogger(__name__)

ARTIFACTS = "artifacts"
MAX_PREVIEWS = 10
PREVIEW_BYTES = 64 * 1024
"""The most of a text or JSON file shown inline (the artifact browser serves it whole)."""
MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""Larger images are listed, not shown."""
MAX_LISTED = 500
"""Files listed in the lens (the artifact browser lists every one)."""

Kind = Literal["text", "json", "image"]


@dataclass(frozen=True)
class Preview:
    path: str
    href: str
    kind: Kind
    size: int
    text: str = ""
    cut: bool = False
    """Only the first `PREVIEW_BYTES` are shown."""


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            return f"{value:.1f} {unit}".replace(".0 ", " ")
    return f"{size} B"  # pragma: no cover - the loop always returns


def artifact_href(job_id: int, path: str) -> str:
    return f"/view/{job_id}/artifacts/{quote(path)}"


def preview(files: BuildFiles, job_id: int, entry: Entry) -> Preview | None:
    """An inline preview of one file, or None when it is not text, JSON or a small image."""
    name = entry.path
    if is_junit(name) or name.endswith(TASK_LOG_INDEX):
        return None
    href = artifact_href(job_id, name)
    suffix = posixpath.splitext(name)[1].lower()
    if suffix in IMAGE_TYPES:
        if entry.size > MAX_IMAGE_BYTES:
            return None
        return Preview(name, href, "image", entry.size)
    head = files.read_range(name, 0, min(entry.size, PREVIEW_BYTES))
    if suffix not in TEXT_SUFFIXES and not looks_like_text(head[:SNIFF_BYTES]):
        return None
    cut = entry.size > len(head)
    text = head.decode("utf-8", errors="replace")
    if suffix == ".json" and not cut:
        try:
            return Preview(name, href, "json", entry.size, json.dumps(json.loads(text), indent=2))
        except ValueError:
            pass  # shown as the text it is
    return Preview(name, href, "text", entry.size, text, cut)


def _preview_or_none(files: BuildFiles, job_id: int, entry: Entry) -> Preview | None:
    try:
        return preview(files, job_id, entry)
    except (OSError, ValueError) as exc:  # gone since the listing, or a bad path
        log.info("job %s: no preview of %r: %s", job_id, entry.path, exc)
        return None


def build(ctx: LensContext) -> Lens | None:
    if ctx.files is None or not ctx.top:
        return None
    files = ctx.files
    everything = sorted(
        (e for e in files.list("", recursive=True) if not e.is_dir), key=lambda e: e.path
    )
    previews: list[Preview] = []
    for entry in everything:  # one listing of the build serves both
        if len(previews) >= MAX_PREVIEWS:
            break
        if entry.path.startswith(f"{ARTIFACTS}/") and entry.size > 0:
            found = _preview_or_none(files, ctx.job.id, entry)
            if found is not None:
                previews.append(found)
    listed = everything[:MAX_LISTED]
    data = {
        "entries": files.list(""),
        "files": [(e.path, artifact_href(ctx.job.id, e.path), human_size(e.size)) for e in listed],
        "more": max(0, len(everything) - len(listed)),
        "previews": previews,
        "live": files.live,
        "human_size": human_size,
    }
    return Lens("artifacts", "Artifacts", data)
