"""The order of a dag template's tasks: `dependencies` / `depends`, `continueOn`, and a checked
topological sort.

`depends` is read in full (`A`, `A.Succeeded`, `.Failed`, `.Errored`, `.Skipped`, `.Omitted`,
`.Daemoned`, `.AnySucceeded`, `.AllFailed`, `&&`, `||`, `!`, parentheses) into an IR predicate
(`pipeline/predicates.py`); a bare `A` expands with A's own `continueOn`, as Argo expands it.
`dependencies: [A, B]` is the IR's default rule (each settled well enough for its dependents),
so it needs no predicate. A predicate names dag tasks; `ir_predicate` maps them to IR tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from foredeck.pipeline.argo.fields import as_list, as_map, at, check_keys, fail, scalar
from foredeck.pipeline.predicates import (
    NO_CONTINUE,
    AllOf,
    AnyOf,
    ContinueOn,
    Is,
    Not,
    Predicate,
    PredicateError,
    done,
    parse,
    tasks_of,
)
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap


def continue_on(call: SourceMap, where: str) -> ContinueOn:
    """A dag task's or step's `continueOn: {failed, error}` as IR outcomes."""
    if "continueOn" not in call:
        return NO_CONTINUE
    raw = as_map(call["continueOn"], at(call, "continueOn"), where)
    check_keys(raw, {"failed", "error"}, set(), f"{where} continueOn")
    found: set[Any] = set()
    for key, outcome in (("failed", "Failed"), ("error", "Errored")):
        value = raw.get(key, False)
        if not isinstance(value, bool):
            raise fail(at(raw, key), f"{where} continueOn.{key}: expected true or false")
        if value:
            found.add(outcome)
    return frozenset(found)


def task_needs(
    task: SourceMap, where: str, continues: Callable[[str], ContinueOn] | None = None
) -> tuple[list[str], Predicate | None]:
    """The tasks a dag task waits for, and its predicate (None for `dependencies`)."""
    if "dependencies" in task and "depends" in task:
        raise fail(at(task, "depends"), f"{where}: use either `dependencies` or `depends`")
    if "dependencies" in task:
        raw = as_list(task["dependencies"], at(task, "dependencies"), where)
        return [scalar(d, at(task, "dependencies"), where) for d in raw], None
    if "depends" not in task:
        return [], None
    text = task["depends"]
    if not isinstance(text, str):
        raise fail(at(task, "depends"), f"{where}: `depends` must be a string")
    try:
        predicate = parse(text, continues)
    except PredicateError as exc:
        raise fail(at(task, "depends"), f"{where}: `depends: {text}`: {exc}") from None
    return tasks_of(predicate), predicate


def ir_predicate(
    predicate: Predicate,
    leaves: Mapping[str, tuple[str | None, list[str]]],
    continues: Callable[[str], ContinueOn],
    source: Source,
    where: str,
) -> Predicate:
    """`predicate` over dag task names as one over IR tasks. `leaves` maps a dag task to its IR
    task (a leaf call) or, for a nested dag/steps call, None and the IR tasks it ends with: a
    nested call is done, or succeeded, when each of those is (the flat IR has no group node)."""
    if isinstance(predicate, Not):
        return Not(ir_predicate(predicate.operand, leaves, continues, source, where))
    if isinstance(predicate, AnyOf):
        names = {p.task for p in predicate.operands if isinstance(p, Is)}
        if len(names) == 1:
            (name,) = names
            task, ends = leaves[name]
            if task is None and predicate == done(name, continues(name)):
                return _each(ends, lambda leaf: done(leaf, continues(leaf)))
    if isinstance(predicate, AllOf | AnyOf):
        kind = type(predicate)
        return kind(
            tuple(ir_predicate(p, leaves, continues, source, where) for p in predicate.operands)
        )
    task, ends = leaves[predicate.task]
    if task is not None:
        return Is(task, predicate.outcome)
    if predicate.outcome == "Succeeded":
        return _each(ends, lambda leaf: AnyOf((Is(leaf, "Succeeded"), Is(leaf, "Skipped"))))
    why = f"`{predicate.task}.{predicate.outcome}` of a nested dag/steps call is not supported"
    raise fail(source, f"{where}: {why} (only `{predicate.task}` and `.Succeeded` are)")


def _each(leaves: list[str], one: Callable[[str], Predicate]) -> Predicate:
    parts = tuple(one(leaf) for leaf in leaves)
    return parts[0] if len(parts) == 1 else AllOf(parts)  # no leaves: an empty AllOf holds


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
