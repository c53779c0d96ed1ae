"""Build-log lens: one page of `build-log.txt` (the tail by default), see `view/logs.py`."""

from __future__ import annotations

from foredeck.dashboard.view.artifacts import RangeReader
from foredeck.dashboard.view.lenses.base import Lens, LensContext
from foredeck.dashboard.view.logs import read_page
from foredeck.storage.prow import BUILD_LOG


def build(ctx: LensContext) -> Lens | None:
    if ctx.files is None or not ctx.has(BUILD_LOG):
        return None
    page = read_page(
        RangeReader(ctx.files, BUILD_LOG), ctx.matchers, start=ctx.log_start, end=ctx.log_end
    )
    return Lens("buildlog", "Build log", {"page": page, "file": BUILD_LOG, "search": ctx.search})
