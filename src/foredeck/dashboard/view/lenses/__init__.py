"""The run page's lenses. Each module has `build(ctx) -> Lens | None`: None when the build has
no file the lens shows (Spyglass chooses lenses by file pattern the same way)."""

from __future__ import annotations

from collections.abc import Callable

from foredeck.dashboard.view.lenses import (
    artifacts,
    buildlog,
    graph,
    junit,
    metadata,
    summary,
)
from foredeck.dashboard.view.lenses.base import Lens, LensContext

LENSES: tuple[Callable[[LensContext], Lens | None], ...] = (
    summary.build,
    metadata.build,
    graph.build,
    junit.build,
    buildlog.build,
    artifacts.build,
)
"""In page order."""

__all__ = ["LENSES", "Lens", "LensContext"]
