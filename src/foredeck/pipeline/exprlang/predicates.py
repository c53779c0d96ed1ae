"""Builtins that take a predicate (`filter(list, # > 1)`, `map(list, .name)`, `reduce` ...).

Each element is evaluated by the interpreter with a `Frame`, so every element costs steps from
the same budget as the rest of the expression.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.evaluate import Frame
from foredeck.pipeline.exprlang.nodes import Call, Closure, Node
from foredeck.pipeline.exprlang.registry import need_list
from foredeck.pipeline.exprlang.values import is_number, type_name

if TYPE_CHECKING:
    from foredeck.pipeline.exprlang.evaluate import Interpreter

ARITY = {"count": (1, 2), "sum": (1, 2), "sortBy": (2, 3), "reduce": (2, 3)}
"""Argument counts that differ from the usual (list, predicate)."""


def _items(name: str, value: Any) -> list[Any]:
    if isinstance(value, dict) and name in ("map", "filter", "all", "any", "none", "one"):
        return list(value.values())
    return need_list(name, value)


def _each(it: Interpreter, body: Node, items: list[Any]) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    for index, element in enumerate(items):
        it.ctx.frames.append(Frame(element, index))
        try:
            out.append((element, it.run(body)))
        finally:
            it.ctx.frames.pop()
    return out


def _truth(name: str, value: Any, node: Node) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"{name}: the predicate must give a bool, got {type_name(value)}", node.pos)
    return value


def call_predicate(it: Interpreter, node: Call) -> Any:
    name = node.name
    items = _items(name, it.run(node.args[0]))
    closure = node.args[1] if len(node.args) > 1 else None
    if closure is not None and not isinstance(closure, Closure):
        raise ExprError(f"{name}: the second argument must be a predicate", closure.pos)
    body = closure.body if closure is not None else None
    if name == "reduce":
        assert body is not None
        return _reduce(it, node, items, body)
    if body is None:  # count(list) / sum(list)
        if name == "count":
            return sum(1 for item in items if _truth(name, item, node))
        return _sum([(item, item) for item in items], node)
    pairs = _each(it, body, items)
    if name == "map":
        return [value for _, value in pairs]
    if name == "sum":
        return _sum(pairs, node)
    if name == "sortBy":
        order = it.run(node.args[2]) if len(node.args) > 2 else "asc"
        keyed = [value for _, value in pairs]
        if not (all(is_number(k) for k in keyed) or all(isinstance(k, str) for k in keyed)):
            raise ExprError("sortBy: keys must all be numbers or all strings", node.pos)
        ranked = sorted(pairs, key=lambda pair: pair[1], reverse=order == "desc")
        return [element for element, _ in ranked]
    if name == "groupBy":
        groups: dict[Any, list[Any]] = {}
        for element, key in pairs:
            groups.setdefault(key, []).append(element)
        return groups
    truths = [(element, _truth(name, value, node)) for element, value in pairs]
    return _select(name, truths)


def _select(name: str, truths: list[tuple[Any, bool]]) -> Any:
    hits = [i for i, (_, truth) in enumerate(truths) if truth]
    if name == "filter":
        return [truths[i][0] for i in hits]
    if name == "all":
        return len(hits) == len(truths)
    if name == "any":
        return bool(hits)
    if name == "none":
        return not hits
    if name == "one":
        return len(hits) == 1
    if name == "count":
        return len(hits)
    if name == "find":
        return truths[hits[0]][0] if hits else None
    if name == "findLast":
        return truths[hits[-1]][0] if hits else None
    if name == "findIndex":
        return hits[0] if hits else -1
    return hits[-1] if hits else -1  # findLastIndex


def _sum(pairs: list[tuple[Any, Any]], node: Node) -> Any:
    total: Any = 0
    for _, value in pairs:
        if not is_number(value):
            raise ExprError(f"sum: expected numbers, got {type_name(value)}", node.pos)
        total += value
    return total


def _reduce(it: Interpreter, node: Call, items: list[Any], body: Node) -> Any:
    if len(node.args) > 2:
        acc = it.run(node.args[2])
        start = 0
    elif items:
        acc, start = items[0], 1
    else:
        return None
    for index in range(start, len(items)):
        it.ctx.frames.append(Frame(items[index], index, acc))
        try:
            acc = it.run(body)
        finally:
            it.ctx.frames.pop()
    return acc
