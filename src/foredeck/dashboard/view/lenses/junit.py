"""JUnit lens: every `artifacts/**/junit*.xml`, failed tests first (see `view/junit.py`)."""

from __future__ import annotations

from foredeck.dashboard.view.junit import is_junit, read_report
from foredeck.dashboard.view.lenses.base import Lens, LensContext


def build(ctx: LensContext) -> Lens | None:
    files = ctx.files
    if files is None or not ctx.has("artifacts"):
        return None
    paths = [e.path for e in files.list("artifacts", recursive=True) if is_junit(e.path)]
    if not paths:
        return None
    report = read_report(paths, files.read_bytes, files.size)
    return Lens("junit", "JUnit", {"report": report, "files": sorted(paths)})
