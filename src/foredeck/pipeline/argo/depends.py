"""The order of a dag template's tasks: `dependencies` / `depends`, and a checked topological sort.

The IR stops a run at the first failed DAG task, so only the forms that run after success are
read: `A`, `A.Succeeded` and `&&`. Forms that exist to run after a failure (`A.Failed`,
`A.Errored`, `A.Completed`, `||`, `!`) are refused in `needs`, which is where a richer IR's
failure edges would be parsed.
"""

from __future__ import annotations

import re

from foredeck.pipeline.argo.fields import as_list, at, fail, scalar
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap

_DEPENDS_TERM = re.compile(r"([A-Za-z0-9_][-A-Za-z0-9_]*)(?:\.(Succeeded))?")


def task_needs(task: SourceMap, where: str) -> list[tuple[str, bool]]:
    """(dependency, needs-success) pairs from `dependencies` or `depends`."""
    if "dependencies" in task and "depends" in task:
        raise fail(at(task, "depends"), f"{where}: use either `dependencies` or `depends`")
    if "dependencies" in task:
        raw = as_list(task["dependencies"], at(task, "dependencies"), where)
        return [(scalar(d, at(task, "dependencies"), where), False) for d in raw]
    if "depends" not in task:
        return []
    text = task["depends"]
    if not isinstance(text, str):
        raise fail(at(task, "depends"), f"{where}: `depends` must be a string")
    out: list[tuple[str, bool]] = []
    # A conjunction is associative: parentheses in one only group, so they can go.
    conjunction = text if "||" in text else text.replace("(", " ").replace(")", " ")
    for part in conjunction.split("&&"):
        m = _DEPENDS_TERM.fullmatch(part.strip())
        if not m:
            why = (
                f"`depends: {text}`: only `A`, `A.Succeeded` and `&&` are supported; "
                "running after a failure (`.Failed`, `.Errored`, `.Completed`, `||`, `!`) "
                "cannot be expressed in the IR, where a failed task stops the pipeline"
            )
            raise fail(at(task, "depends"), f"{where}: {why}")
        out.append((m.group(1), m.group(2) is not None))
    return out


def toposort(edges: dict[str, list[str]], where: str, source: Source) -> list[str]:
    """`edges` (node -> what it waits for) in an order that runs dependencies first."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = " -> ".join([*path[path.index(node) :], node])
            raise fail(source, f"{where}: dependency cycle {cycle}")
        state[node] = 1
        for dep in edges[node]:
            visit(dep, [*path, node])
        state[node] = 2
        order.append(node)

    for node in edges:
        visit(node, [])
    return order
