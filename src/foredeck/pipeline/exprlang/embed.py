"""Expressions inside IR values: `$(= EXPR)`, where EXPR is expr-lang over IR references.

The Argo front end turns `{{=asInt(inputs.parameters.n) + 1}}` into
`$(=asInt($(params.n)) + 1)`: each variable becomes the `$(...)` reference it resolves to, so
validation, dependency inference and the emitters see ordinary references, and a value can mix
plain text, references and expressions. The end of an embedded expression is found by lexing
it (a `)` inside a string does not end it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from foredeck.pipeline.exprlang.errors import ExprError

START = "$(="


@dataclass(frozen=True)
class Embedded:
    start: int  # offset of `$(=`
    end: int  # offset after the closing `)`
    expr: str


def find(text: str) -> list[Embedded]:
    """Every `$(= ...)` of `text`, in order (`ExprError` if one is not closed)."""
    from foredeck.pipeline.exprlang.lexer import tokenize  # loaded when a value has one

    found: list[Embedded] = []
    pos = text.find(START)
    while pos >= 0:
        tokens = tokenize(text, refs=True, start=pos + len(START), stop_at_close=True)
        close = tokens[-1].pos
        found.append(Embedded(pos, close + 1, text[pos + len(START) : close]))
        pos = text.find(START, close + 1)
    return found


def split(text: str) -> list[str | Embedded]:
    """`text` as plain parts and expressions, in order."""
    parts: list[str | Embedded] = []
    pos = 0
    for item in find(text):
        if item.start > pos:
            parts.append(text[pos : item.start])
        parts.append(item)
        pos = item.end
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def literal(value: str) -> str:
    """A string literal of expr-lang holding `value` (whose `$(` cannot read as a reference)."""
    return json.dumps(value).replace("$(", "\\u0024(")


def rewrite_refs(expr: str, replace: Callable[[str], str]) -> str:
    """`expr` (IR dialect) with each `$(path)` token replaced by `replace(path)`."""
    from foredeck.pipeline.exprlang.lexer import tokenize

    out: list[str] = []
    pos = 0
    for token in tokenize(expr, refs=True):
        if token.kind == "ref":
            out.append(expr[pos : token.pos])
            out.append(replace(token.text))
            pos = token.end
    out.append(expr[pos:])
    return "".join(out)


def render(text: str, plain: Callable[[str], str], evaluate: Callable[[str], Any]) -> str:
    """`text` with plain parts passed through `plain` and expressions evaluated and formatted."""
    from foredeck.pipeline.exprlang.values import go_format

    out: list[str] = []
    for part in split(text):
        if isinstance(part, str):
            out.append(plain(part))
            continue
        value = evaluate(part.expr)
        if value is None:
            raise ExprError(f"expression {part.expr.strip()!r} gave nil")
        out.append(go_format(value))
    return "".join(out)
