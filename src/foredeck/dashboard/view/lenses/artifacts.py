"""Artifacts lens: the top of the build directory, linking into the artifact browser."""

from __future__ import annotations

from foredeck.dashboard.view.lenses.base import Lens, LensContext


def build(ctx: LensContext) -> Lens | None:
    if ctx.files is None or not ctx.top:
        return None
    entries = ctx.files.list("")
    return Lens("artifacts", "Artifacts", {"entries": entries, "live": ctx.files.live})
