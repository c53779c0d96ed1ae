"""The syntax tree of an expr-lang expression; every node keeps its span in the source text."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    pos: int
    end: int


@dataclass(frozen=True)
class Lit(Node):
    value: object


@dataclass(frozen=True)
class Var(Node):
    """A variable of the environment (Argo's `inputs`, `workflow`, `tasks` ...)."""

    name: str


@dataclass(frozen=True)
class Ref(Node):
    """An IR reference `$(path)` standing for a variable (the IR dialect)."""

    path: str


@dataclass(frozen=True)
class Local(Node):
    """A name bound by `let`."""

    name: str


@dataclass(frozen=True)
class Pointer(Node):
    """`#` (the element), `#index`, `#acc` inside a predicate."""

    name: str


@dataclass(frozen=True)
class Member(Node):
    obj: Node
    key: Node
    optional: bool = False


@dataclass(frozen=True)
class Slice(Node):
    obj: Node
    low: Node | None
    high: Node | None


@dataclass(frozen=True)
class Closure(Node):
    body: Node


@dataclass(frozen=True)
class Call(Node):
    name: str  # `len`, `sprig.trim`, `asInt` ...
    args: tuple[Node, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Cond(Node):
    test: Node
    then: Node
    other: Node


@dataclass(frozen=True)
class ArrayLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class MapLit(Node):
    pairs: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True)
class Let(Node):
    name: str
    value: Node
    body: Node


def children(node: Node) -> list[Node]:
    """The direct sub-nodes of `node`, in source order."""
    if isinstance(node, Member):
        return [node.obj, node.key]
    if isinstance(node, Slice):
        return [n for n in (node.obj, node.low, node.high) if n is not None]
    if isinstance(node, Closure):
        return [node.body]
    if isinstance(node, Call):
        return list(node.args)
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Binary):
        return [node.left, node.right]
    if isinstance(node, Cond):
        return [node.test, node.then, node.other]
    if isinstance(node, ArrayLit):
        return list(node.items)
    if isinstance(node, MapLit):
        return [n for pair in node.pairs for n in pair]
    if isinstance(node, Let):
        return [node.value, node.body]
    return []
