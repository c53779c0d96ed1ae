"""JUnit lens: every `artifacts/**/junit*.xml`, failed tests first (see `storage/junit.py`)."""

from __future__ import annotations

from foredeck.dashboard.view.lenses.base import Lens, LensContext
from foredeck.storage.junit import JunitReport, is_junit, read_report


def report(ctx: LensContext) -> tuple[JunitReport, list[str]] | None:
    """The run's JUnit report and its files, read once per page (the summary shows it too)."""
    if "junit" in ctx.memo:
        found: tuple[JunitReport, list[str]] | None = ctx.memo["junit"]
        return found
    files = ctx.files
    found = None
    if files is not None and ctx.has("artifacts"):
        paths = [e.path for e in files.list("artifacts", recursive=True) if is_junit(e.path)]
        if paths:
            found = (read_report(paths, files.read_bytes, files.size), sorted(paths))
    ctx.memo["junit"] = found
    return found


def build(ctx: LensContext) -> Lens | None:
    found = report(ctx)
    if found is None:
        return None
    return Lens("junit", "JUnit", {"report": found[0], "files": found[1]})
