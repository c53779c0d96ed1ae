"""Variables of an Argo expression, rewritten into IR references (Argo dialect -> IR dialect).

A variable is a chain of constant member accesses from a name (`inputs.parameters.x`,
`tasks['my-task'].outputs.result`). The front end maps the longest prefix of each chain it
knows to an IR reference or a literal; the rest of the chain stays as member accesses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from foredeck.pipeline.exprlang.embed import literal
from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.lexer import tokenize
from foredeck.pipeline.exprlang.nodes import Lit, Member, Node, Var, children


@dataclass(frozen=True)
class Chain:
    pos: int
    end: int
    parts: tuple[str, ...]


def _parts(node: Node) -> list[str] | None:
    if isinstance(node, Var):
        return [node.name]
    if isinstance(node, Member) and not node.optional:
        base = _parts(node.obj)
        if base is not None and isinstance(node.key, Lit) and isinstance(node.key.value, str):
            return [*base, node.key.value]
    return None


def chains(tree: Node) -> list[Chain]:
    """Every variable chain of `tree`, longest form, in source order."""
    found: list[Chain] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        parts = _parts(node)
        if parts is not None:
            found.append(Chain(node.pos, node.end, tuple(parts)))
            continue
        stack.extend(reversed(children(node)))
    return sorted(found, key=lambda c: c.pos)


Resolve = Callable[[tuple[str, ...]], tuple[str, int]]
"""Maps a chain's parts to (IR text of its longest known prefix, how many parts it used)."""


def to_ir(text: str, tree: Node, resolve: Resolve) -> str:
    """The IR-dialect text of Argo expression `text` (parsed as `tree`)."""
    edits: list[tuple[int, int, str]] = []
    for chain in chains(tree):
        replacement, used = resolve(chain.parts)
        rest = "".join(f"[{json.dumps(p)}]" for p in chain.parts[used:])
        edits.append((chain.pos, chain.end, replacement + rest))
    for token in tokenize(text):
        if token.kind == "str" and "$(" in text[token.pos : token.end]:
            # keep `$(` in a string literal from reading as an IR reference
            edits.append((token.pos, token.end, literal(token.text)))
    out: list[str] = []
    pos = 0
    for start, end, new in sorted(edits):
        if start < pos:
            raise ExprError("overlapping variables", start)
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)
