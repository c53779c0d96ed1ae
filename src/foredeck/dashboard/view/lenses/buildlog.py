"""Build-log lens: one page of `build-log.txt` (the tail by default), see `view/logs.py`."""

from __future__ import annotations

from foredeck.dashboard.view.artifacts import RangeReader
from foredeck.dashboard.view.lenses.base import Lens, LensContext
from foredeck.dashboard.view.logs import LogPage, read_page
from foredeck.storage.prow import BUILD_LOG


def page(ctx: LensContext) -> LogPage | None:
    """The page of the log shown, read once per request (the summary lists its errors)."""
    if "buildlog" not in ctx.memo:
        found = None
        if ctx.files is not None and ctx.has(BUILD_LOG):
            source = RangeReader(ctx.files, BUILD_LOG)
            found = read_page(source, ctx.matchers, start=ctx.log_start, end=ctx.log_end)
        ctx.memo["buildlog"] = found
    shown: LogPage | None = ctx.memo["buildlog"]
    return shown


def build(ctx: LensContext) -> Lens | None:
    shown = page(ctx)
    if shown is None:
        return None
    return Lens("buildlog", "Build log", {"page": shown, "file": BUILD_LOG, "search": ctx.search})
