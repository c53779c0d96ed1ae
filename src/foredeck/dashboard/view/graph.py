"""The pipeline-graph lens: the run's task DAG as server-rendered SVG.

Nodes come from `pipeline-run.json` (the executor's record: status, attempts, times); edges from
a `runAfter` list in a task's entry when the executor records one, else from the job's own
pipeline (the row's config snapshot, re-read with `jobs.job_model` and `jobs.build_run`, and
`pipeline.validate.dependencies`). With neither, tasks are drawn without edges.

Layout is layered: a task's rank is the longest path from a root (finally tasks go after the
DAG), ranks are columns, tasks in a column are ordered by their predecessors' rows (barycenter)
and then by start time. Every text in the SVG is escaped (task names come from the pipeline).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from foredeck.dashboard.links import format_duration
from foredeck.db.models import Job

log = logging.getLogger(__name__)

NODE_W = 190
NODE_H = 58
GAP_X = 60
GAP_Y = 20
PAD = 10
MAX_NODES = 500
MAX_NAME = 26

STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "Succeeded": ("#e6f4ea", "#1e8e3e"),
    "Failed": ("#fce8e6", "#d93025"),
    "TimedOut": ("#fce8e6", "#a50e0e"),
    "Cancelled": ("#f1f3f4", "#5f6368"),
    "Skipped": ("#f8f9fa", "#9aa0a6"),
    "Running": ("#e8f0fe", "#1a73e8"),
    "Pending": ("#fff", "#9aa0a6"),
}


@dataclass
class Node:
    name: str
    status: str
    attempts: int
    duration: float | None
    started: str | None
    is_finally: bool
    instances: list[str] = field(default_factory=list)
    reason: str = ""
    rank: int = 0
    row: int = 0

    @property
    def x(self) -> int:
        return PAD + self.rank * (NODE_W + GAP_X)

    @property
    def y(self) -> int:
        return PAD + self.row * (NODE_H + GAP_Y)


@dataclass
class Graph:
    nodes: dict[str, Node]
    edges: list[tuple[str, str]]
    """(from, to): `to` waits for `from`."""
    inferred: bool = False
    """Edges came from the job's pipeline, not from `pipeline-run.json`."""


def entry_seconds(entry: dict[str, Any]) -> float | None:
    try:
        started = datetime.fromisoformat(str(entry["started"]).replace("Z", "+00:00"))
        finished = datetime.fromisoformat(str(entry["finished"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, (finished - started).total_seconds())


def task_entries(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tasks = run.get("tasks")
    if not isinstance(tasks, dict):
        return {}
    return {str(k): v for k, v in tasks.items() if isinstance(v, dict)}


def build_graph(run: dict[str, Any], job: Job | None = None) -> Graph:
    """Nodes for the pipeline's tasks (a matrix task is one node; its instances are listed)."""
    entries = task_entries(run)
    nodes: dict[str, Node] = {}
    for name, entry in entries.items():
        if "pipelineTask" in entry and entry.get("pipelineTask") != name:
            continue  # a matrix instance: shown on its task's page
        if len(nodes) >= MAX_NODES:
            break
        attempts = entry.get("attempts")
        instances = entry.get("instances")
        nodes[name] = Node(
            name=name,
            status=str(entry.get("status", "Pending")),
            attempts=attempts if isinstance(attempts, int) else 0,
            duration=entry_seconds(entry),
            started=str(entry["started"]) if entry.get("started") else None,
            is_finally=bool(entry.get("finally")),
            instances=[str(i) for i in instances] if isinstance(instances, list) else [],
            reason=str(entry.get("reason", "")),
        )
    deps: dict[str, set[str]] = {}
    recorded = False
    for name in nodes:
        after = entries[name].get("runAfter")
        if isinstance(after, list):
            recorded = True
            deps[name] = {str(a) for a in after if str(a) in nodes and str(a) != name}
    inferred = False
    if not recorded and job is not None:
        found = pipeline_dependencies(job)
        if found is not None:
            inferred = True
            deps = {n: {d for d in found.get(n, set()) if d in nodes and d != n} for n in nodes}
    edges = sorted((dep, name) for name, before in deps.items() for dep in before)
    graph = Graph(nodes, edges, inferred)
    layout(graph)
    return graph


def pipeline_dependencies(job: Job) -> dict[str, set[str]] | None:
    """The DAG of the job's pipeline from its config snapshot, or None when it cannot be built
    without a checkout (a `pipeline:` path in the repository) or is broken."""
    try:
        from foredeck.jobs import build_run, job_model
        from foredeck.pipeline.validate import dependencies

        return dependencies(build_run(job_model(job), None).pipeline)
    except Exception as exc:  # any failure only costs the edges
        log.debug("job %s: no pipeline graph from the config snapshot: %s", job.id, exc)
        return None


def layout(graph: Graph) -> None:
    """Assign `rank` (longest path; finally tasks after the DAG) and `row` to every node."""
    preds: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        preds[dst].append(src)
    ranks: dict[str, int] = {}
    visiting: set[str] = set()

    def rank_of(name: str) -> int:
        if name in ranks:
            return ranks[name]
        if name in visiting:  # a cycle cannot come from a valid pipeline; do not loop
            return 0
        visiting.add(name)
        value = max((rank_of(p) + 1 for p in preds[name]), default=0)
        visiting.discard(name)
        ranks[name] = value
        return value

    dag = [n for n in graph.nodes.values() if not n.is_finally]
    for node in graph.nodes.values():
        node.rank = rank_of(node.name)
    offset = max((n.rank for n in dag), default=-1) + 1
    for node in graph.nodes.values():
        if node.is_finally:
            node.rank += offset
    columns: dict[int, list[Node]] = {}
    for node in graph.nodes.values():
        columns.setdefault(node.rank, []).append(node)
    for rank in sorted(columns):
        column = columns[rank]

        def key(node: Node, rank: int = rank) -> tuple[float, str, str]:
            rows = [graph.nodes[p].row for p in preds[node.name] if graph.nodes[p].rank < rank]
            centre = sum(rows) / len(rows) if rows else 0.0
            return (centre, node.started or "~", node.name)

        for row, node in enumerate(sorted(column, key=key)):
            node.row = row


def _text(value: str) -> str:
    return html.escape(value, quote=True)


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def task_href(job_id: int, task: str) -> str:
    return f"/view/{job_id}/task/{quote(task, safe='')}"


def render_svg(graph: Graph, job_id: int) -> Markup:
    """The graph as an inline `<svg>`: a linked box per task, a curve per dependency."""
    if not graph.nodes:
        return Markup("")
    width = max(n.x for n in graph.nodes.values()) + NODE_W + PAD
    height = max(n.y for n in graph.nodes.values()) + NODE_H + PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pipeline-graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="pipeline graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#9aa0a6"/></marker></defs>',
    ]
    for src, dst in graph.edges:
        a, b = graph.nodes[src], graph.nodes[dst]
        x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
        x2, y2 = b.x, b.y + NODE_H // 2
        mid = (x1 + x2) / 2
        parts.append(
            f'<path class="edge" data-from="{_text(src)}" data-to="{_text(dst)}" '
            f'd="M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}" fill="none" '
            f'stroke="#9aa0a6" stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
    for node in graph.nodes.values():
        fill, stroke = STATUS_COLOURS.get(node.status, ("#fff", "#5f6368"))
        details = [node.status]
        if node.duration is not None:
            details.append(format_duration(node.duration))
        if node.attempts > 1:
            details.append(f"{node.attempts} attempts")
        second = " · ".join(details)
        third = f"{len(node.instances)} instances" if node.instances else ""
        if node.is_finally:
            third = "finally" + (f" · {third}" if third else "")
        title = f"{node.name}: {second}" + (f" ({node.reason})" if node.reason else "")
        parts.append(
            f'<a href="{_text(task_href(job_id, node.name))}" class="task-link">'
            f'<g class="task status-{_text(node.status)}" data-task="{_text(node.name)}" '
            f'data-status="{_text(node.status)}" data-attempts="{node.attempts}">'
            f"<title>{_text(title)}</title>"
            f'<rect x="{node.x}" y="{node.y}" width="{NODE_W}" height="{NODE_H}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="2"/>'
            f'<text x="{node.x + 10}" y="{node.y + 19}" font-size="13" font-weight="bold" '
            f'fill="#202124">{_text(_short(node.name))}</text>'
            f'<text x="{node.x + 10}" y="{node.y + 36}" font-size="11" fill="{stroke}">'
            f"{_text(second)}</text>"
            f'<text x="{node.x + 10}" y="{node.y + 51}" font-size="10" fill="#5f6368">'
            f"{_text(third)}</text></g></a>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped
