"""Metadata lens: refs with links, times, result, and the build's JSON files pretty-printed."""

from __future__ import annotations

import json
from typing import Any

from foredeck.dashboard import links
from foredeck.dashboard.view.lenses.base import Lens, LensContext

JSON_FILES = ("started.json", "finished.json", "prowjob.json", "clone-records.json")


def build(ctx: LensContext) -> Lens:
    job = ctx.job
    finished = ctx.json("finished.json")
    result = finished.get("result") if isinstance(finished, dict) else None
    documents: list[tuple[str, str]] = []
    for name in JSON_FILES:
        value = ctx.json(name)
        if value is not None:
            documents.append((name, json.dumps(value, indent=2, sort_keys=True)))
    refs: dict[str, Any] = job.refs or {}
    data = {
        "result": result,
        "pulls": links.pull_links(job, ctx.web),
        "commit": links.commit(job, ctx.web),
        "authors": links.authors(job),
        "repo": f"{job.org}/{job.repo}" if job.org and job.repo else None,
        "base_ref": job.base_ref or refs.get("base_ref"),
        "base_sha": job.base_sha or refs.get("base_sha"),
        "extra_refs": job.extra_refs or [],
        "times": [
            ("created", links.short_time(job.created_at)),
            ("started", links.short_time(job.started_at)),
            ("finished", links.short_time(job.finished_at)),
        ],
        "duration": links.format_duration(links.duration_seconds(job)),
        "documents": documents,
        "images": _images(finished),
    }
    return Lens("metadata", "Metadata", data)


def _images(finished: Any) -> list[str]:
    """The images the run pushed (`REF@DIGEST`, `finished.json`'s `metadata.images`)."""
    metadata = finished.get("metadata") if isinstance(finished, dict) else None
    images = metadata.get("images") if isinstance(metadata, dict) else None
    if not isinstance(images, list):
        return []
    return [image for image in images[:100] if isinstance(image, str)]
