"""The interpreter of expr-lang trees: Go's and expr-lang's semantics, within a budget.

Every node evaluated costs a step of the `Budget`; strings and lists are checked against their
bounds as they are built. Errors are `ExprError`s naming what failed and where.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from foredeck.pipeline.exprlang.dates import comparable_times, time_arithmetic
from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.limits import MAX_ITEMS, Budget, check_size, wrap_int
from foredeck.pipeline.exprlang.nodes import (
    ArrayLit,
    Binary,
    Call,
    Closure,
    Cond,
    Let,
    Lit,
    Local,
    MapLit,
    Member,
    Node,
    Pointer,
    Ref,
    Slice,
    Unary,
    Var,
)
from foredeck.pipeline.exprlang.regexes import regex
from foredeck.pipeline.exprlang.values import equal, is_number, type_name

Resolve = Callable[[str], Any]
"""Maps an IR reference's path (`params.x`) to its value; `None` when it has none."""


@dataclass
class Frame:
    """The element a predicate is looking at (`#`, `#index`, `#acc`)."""

    element: Any
    index: int
    acc: Any = None


@dataclass
class Context:
    variables: Mapping[str, Any] = field(default_factory=dict)
    resolve: Resolve | None = None
    budget: Budget = field(default_factory=Budget)
    locals: dict[str, Any] = field(default_factory=dict)
    frames: list[Frame] = field(default_factory=list)


def _bool(value: Any, what: str, node: Node) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"{what} expects a bool, got {type_name(value)}", node.pos)
    return value


def _fail(op: str, left: Any, right: Any, node: Node) -> ExprError:
    message = f"invalid operation: {type_name(left)} {op} {type_name(right)}"
    return ExprError(message, node.pos)


def arithmetic(op: str, a: Any, b: Any, node: Node) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return check_size(a + b)
    timed = time_arithmetic(op, a, b)
    if timed is not NotImplemented:
        return timed
    if not (is_number(a) and is_number(b)):
        raise _fail(op, a, b, node)
    ints = isinstance(a, int) and isinstance(b, int)
    if op in ("+", "-", "*"):
        result = a + b if op == "+" else a - b if op == "-" else a * b
        return wrap_int(result) if ints else float(result)
    if op == "/":
        if b == 0:
            return math.nan if a == 0 else math.copysign(math.inf, a) * math.copysign(1, b)
        return a / b
    if op == "%":
        if not ints:
            raise _fail(op, a, b, node)
        if b == 0:
            raise ExprError("integer divide by zero", node.pos)
        return int(math.fmod(a, b))
    try:  # ** and ^
        return math.pow(a, b)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def compare(op: str, a: Any, b: Any, node: Node) -> bool:
    if op == "==":
        return equal(a, b)
    if op == "!=":
        return not equal(a, b)
    comparable = (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))
    comparable = comparable or comparable_times(a, b)
    if not comparable:
        raise _fail(op, a, b, node)
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)


def membership(a: Any, b: Any, node: Node) -> bool:
    if isinstance(b, list):
        return any(equal(a, item) for item in b)
    if isinstance(b, dict):
        return a in b if isinstance(a, str | int | float | bool) else False
    if b is None:
        return False
    raise _fail("in", a, b, node)


def strings(op: str, a: Any, b: Any, node: Node) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        raise _fail(op, a, b, node)
    if op == "matches":
        return regex(b).search(a) is not None
    if op == "contains":
        return b in a
    if op == "startsWith":
        return a.startswith(b)
    return a.endswith(b)


def member(obj: Any, key: Any, node: Node) -> Any:
    if isinstance(obj, dict):
        return obj.get(key) if isinstance(key, str | int | float | bool) else None
    if isinstance(obj, list | str):
        if not isinstance(key, int) or isinstance(key, bool):
            raise ExprError(f"cannot index {type_name(obj)} with {type_name(key)}", node.pos)
        index = key + len(obj) if key < 0 else key
        if not 0 <= index < len(obj):
            raise ExprError(f"index out of range: {key} (length {len(obj)})", node.pos)
        return obj[index]
    raise ExprError(f"cannot fetch {key!r} from {type_name(obj)}", node.pos)


def _optional_chain(node: Node) -> bool:
    while isinstance(node, Member):
        if node.optional:
            return True
        node = node.obj
    return False


class Interpreter:
    def __init__(self, ctx: Context, call: Callable[[Interpreter, Call], Any]) -> None:
        self.ctx = ctx
        self.call = call

    def run(self, node: Node) -> Any:
        self.ctx.budget.tick()
        method = getattr(self, "_" + type(node).__name__)
        return method(node)

    def _Lit(self, node: Lit) -> Any:
        return node.value

    def _Var(self, node: Var) -> Any:
        if node.name not in self.ctx.variables:
            raise ExprError(f"unknown name {node.name}", node.pos)
        return self.ctx.variables[node.name]

    def _Ref(self, node: Ref) -> Any:
        value = None if self.ctx.resolve is None else self.ctx.resolve(node.path)
        if value is None:
            raise ExprError(f"unresolved reference $({node.path})", node.pos)
        return value

    def _absent_is_nil(self, node: Any) -> Any:
        if isinstance(node, Ref):
            return None if self.ctx.resolve is None else self.ctx.resolve(node.path)
        return self.run(node)

    def _Local(self, node: Local) -> Any:
        return self.ctx.locals[node.name]

    def _Pointer(self, node: Pointer) -> Any:
        frame = self.ctx.frames[-1]
        if node.name == "":
            return frame.element
        if node.name == "index":
            return frame.index
        if node.name == "acc":
            return frame.acc
        if isinstance(frame.element, dict):  # `#name` is the element's field in expr-lang
            return frame.element.get(node.name)
        raise ExprError(f"unknown pointer #{node.name}", node.pos)

    def _Member(self, node: Member) -> Any:
        obj = self.run(node.obj)
        if obj is None and (node.optional or _optional_chain(node.obj)):
            return None
        return member(obj, self.run(node.key), node)

    def _Slice(self, node: Slice) -> Any:
        obj = self.run(node.obj)
        if not isinstance(obj, list | str):
            raise ExprError(f"cannot slice {type_name(obj)}", node.pos)
        low = 0 if node.low is None else self.run(node.low)
        high = len(obj) if node.high is None else self.run(node.high)
        if not (isinstance(low, int) and isinstance(high, int)):
            raise ExprError("slice bounds must be integers", node.pos)
        return obj[low:high]

    def _Closure(self, node: Closure) -> Any:
        raise ExprError("a predicate is only allowed as a function argument", node.pos)

    def _Call(self, node: Call) -> Any:
        return self.call(self, node)

    def _Unary(self, node: Unary) -> Any:
        value = self.run(node.operand)
        if node.op in ("not", "!"):
            return not _bool(value, f"`{node.op}`", node)
        if not is_number(value):
            raise ExprError(f"invalid operation: {node.op}{type_name(value)}", node.pos)
        return (wrap_int(-value) if isinstance(value, int) else -value) if node.op == "-" else value

    def _Binary(self, node: Binary) -> Any:
        op = node.op
        if op == "??":  # an absent value (a skipped task's output) is nil here, as in Argo
            left = self._absent_is_nil(node.left)
            return self.run(node.right) if left is None else left
        left = self.run(node.left)
        if op in ("and", "&&", "or", "||"):
            truth = _bool(left, f"`{op}`", node)
            if truth == (op in ("or", "||")):
                return truth
            return _bool(self.run(node.right), f"`{op}`", node)
        right = self.run(node.right)
        if op in ("+", "-", "*", "/", "%", "**", "^"):
            return arithmetic(op, left, right, node)
        if op in ("==", "!=", "<", ">", "<=", ">="):
            return compare(op, left, right, node)
        if op == "in":
            return membership(left, right, node)
        if op == "..":
            if not (isinstance(left, int) and isinstance(right, int)):
                raise _fail(op, left, right, node)
            if right - left >= MAX_ITEMS:
                raise ExprError(f"range longer than {MAX_ITEMS} items", node.pos)
            return list(range(left, right + 1))
        return strings(op, left, right, node)

    def _Cond(self, node: Cond) -> Any:
        test = _bool(self.run(node.test), "`?:`", node)
        return self.run(node.then if test else node.other)

    def _ArrayLit(self, node: ArrayLit) -> Any:
        return check_size([self.run(item) for item in node.items])

    def _MapLit(self, node: MapLit) -> Any:
        return {self.run(k): self.run(v) for k, v in node.pairs}

    def _Let(self, node: Let) -> Any:
        saved = self.ctx.locals.get(node.name, _MISSING)
        self.ctx.locals[node.name] = self.run(node.value)
        try:
            return self.run(node.body)
        finally:
            if saved is _MISSING:
                del self.ctx.locals[node.name]
            else:
                self.ctx.locals[node.name] = saved


_MISSING = object()
