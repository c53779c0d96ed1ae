"""Calling functions, and the load-time check that every called name exists with its arity.

Importing this module fills the function table (expr-lang builtins, Argo's additions, Sprig).
"""

from __future__ import annotations

from typing import Any

from foredeck.pipeline.exprlang import (
    argo_functions,
    builtins,
    dates,
    sprig,
    sprig_data,
    sprig_time,
)
from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.evaluate import Interpreter
from foredeck.pipeline.exprlang.limits import check_size
from foredeck.pipeline.exprlang.nodes import Call, Closure, Node, Var, children
from foredeck.pipeline.exprlang.parser import PREDICATES
from foredeck.pipeline.exprlang.predicates import ARITY, call_predicate
from foredeck.pipeline.exprlang.registry import FUNCTIONS

_LOADED = (
    argo_functions,
    builtins,
    dates,
    sprig,
    sprig_data,
    sprig_time,
)  # modules that register functions


def arity(name: str) -> tuple[int, int | None] | None:
    """(min, max) arguments of a known function, or None for an unknown name."""
    if name in PREDICATES:
        return ARITY.get(name, (2, 2))
    spec = FUNCTIONS.get(name)
    return None if spec is None else (spec.min_args, spec.max_args)


def call(it: Interpreter, node: Call) -> Any:
    if node.name in PREDICATES:
        return call_predicate(it, node)
    spec = FUNCTIONS.get(node.name)
    if spec is None:
        raise ExprError(f"unknown function {node.name}", node.pos)
    args = [it.run(arg) for arg in node.args]
    try:
        return check_size(spec.fn(*args))
    except ExprError as exc:
        raise ExprError(exc.message, node.pos if exc.pos is None else exc.pos) from None
    except (ValueError, TypeError, OverflowError, ZeroDivisionError, IndexError, KeyError) as exc:
        raise ExprError(f"{node.name}: {exc}", node.pos) from None


def problems(tree: Node) -> list[ExprError]:
    """Unknown functions, wrong argument counts, misplaced predicates: every one in `tree`."""
    found: list[ExprError] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        stack.extend(reversed(children(node)))
        if isinstance(node, Var) and (node.name == "sprig" or node.name in FUNCTIONS):
            found.append(ExprError(f"function {node.name} used as a value", node.pos))
        if not isinstance(node, Call):
            continue
        bounds = arity(node.name)
        if bounds is None:
            found.append(ExprError(f"unknown function {node.name}", node.pos))
            continue
        low, high = bounds
        count = len(node.args)
        if count < low or (high is not None and count > high):
            want = str(low) if low == high else f"{low} to {high if high is not None else 'any'}"
            message = f"{node.name} takes {want} argument(s), got {count}"
            found.append(ExprError(message, node.pos))
        for index, arg in enumerate(node.args):
            if isinstance(arg, Closure) != (index == 1 and node.name in PREDICATES):
                found.append(ExprError(f"{node.name}: misplaced predicate", arg.pos))
    return sorted(found, key=lambda e: e.pos or 0)
