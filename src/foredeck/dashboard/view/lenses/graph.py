"""Pipeline-graph lens: the DAG from `pipeline-run.json` as SVG (see `view/graph.py`)."""

from __future__ import annotations

from foredeck.dashboard.view.graph import build_graph, render_svg
from foredeck.dashboard.view.lenses.base import Lens, LensContext

PIPELINE_RUN = "pipeline-run.json"


def build(ctx: LensContext) -> Lens | None:
    run = ctx.json(PIPELINE_RUN)
    if not isinstance(run, dict):
        return None
    graph = build_graph(run, ctx.job)
    if not graph.nodes:
        return None
    return Lens(
        "graph",
        "Pipeline",
        {
            "svg": render_svg(graph, ctx.job.id),
            "graph": graph,
            "status": run.get("status"),
            "name": run.get("name"),
        },
    )
