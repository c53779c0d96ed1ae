"""The entry points: `check` at load time, `evaluate` at run time (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from foredeck.pipeline.exprlang import functions
from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.evaluate import Context, Interpreter, Resolve
from foredeck.pipeline.exprlang.limits import Budget
from foredeck.pipeline.exprlang.nodes import Node
from foredeck.pipeline.exprlang.parser import parse
from foredeck.pipeline.exprlang.values import go_format

__all__ = ["Budget", "ExprError", "check", "compile_expr", "evaluate", "go_format"]


@lru_cache(maxsize=512)
def compile_expr(text: str, *, refs: bool = False) -> Node:
    """The checked tree of `text`; raises the first `ExprError` (use `check` for all).

    Cached: a looped task evaluates the same expressions for each instance (trees are immutable).
    """
    tree = parse(text, refs=refs)
    found = functions.problems(tree)
    if found:
        raise found[0]
    return tree


def check(text: str, *, refs: bool = False) -> list[ExprError]:
    """Every load-time error of `text`: a syntax error, or each unknown function / bad arity."""
    try:
        tree = parse(text, refs=refs)
    except ExprError as exc:
        return [exc]
    return functions.problems(tree)


def evaluate(
    expr: str | Node,
    variables: Mapping[str, Any] | None = None,
    resolve: Resolve | None = None,
    budget: Budget | None = None,
    *,
    refs: bool = False,
) -> Any:
    """The value of `expr` with Argo-style `variables` (nested maps) and/or IR references
    resolved by `resolve`. Raises `ExprError` (type errors, unknown names, limits)."""
    tree = compile_expr(expr, refs=refs) if isinstance(expr, str) else expr
    ctx = Context(variables or {}, resolve, budget or Budget())
    try:
        return Interpreter(ctx, functions.call).run(tree)
    except RecursionError:
        raise ExprError("expression nested too deeply") from None


def is_constant(tree: Node) -> bool:
    """Whether `tree` reads no reference and calls no clock or random function (so its value
    can be computed once, at load time)."""
    from foredeck.pipeline.exprlang.nodes import Call, Ref, children
    from foredeck.pipeline.exprlang.sprig_time import NONDETERMINISTIC

    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Ref) or (isinstance(node, Call) and node.name in NONDETERMINISTIC):
            return False
        stack.extend(children(node))
    return True
