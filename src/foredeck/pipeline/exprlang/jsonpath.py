"""The JSONPath subset of Argo's `jsonpath(json, path)`: `$`, `.key`, `['key']`, `[n]`, `[a:b]`,
`[*]` / `.*`, `..key` and filters `[?(@.age > 42 && @.name == "Mo")]`. A path with a wildcard,
`..` or a filter gives a list, as PaesslerAG/jsonpath (the library Argo uses) does. A filter is
an expression over `@` (the element tested), evaluated as expr-lang (the comparisons, `&&`,
`||`, `!` and literals PaesslerAG's gval shares with it)."""

from __future__ import annotations

import re
from typing import Any

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.limits import MAX_ITEMS

_STEP = re.compile(
    r"""\.\.(?P<deep>[A-Za-z_$][\w$-]*|\*)"""
    r"""|\.(?P<key>[A-Za-z_$][\w$-]*|\*)"""
    r"""|\[\s*(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<idx>-?\d+)|(?P<star>\*)"""
    r"""|(?P<lo>-?\d*)\s*:\s*(?P<hi>-?\d*))\s*\]"""
)


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _descend(value: Any, key: str) -> list[Any]:
    found: list[Any] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict) and (key == "*" or key in node):
            found.extend(_children(node) if key == "*" else [node[key]])
        stack.extend(reversed(_children(node)))
        if len(found) > MAX_ITEMS:
            raise ExprError(f"jsonpath: more than {MAX_ITEMS} matches")
    return found


_FILTER = re.compile(r"\[\s*\?\s*\(")
_AT = re.compile(r"""@|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'""")
_ELEMENT = "jsonpath_element"


def _filter_end(path: str, start: int) -> int:
    """The index just past the `)]` closing the filter whose expression starts at `start`."""
    depth, quote, pos = 1, "", start
    while pos < len(path):
        c = path[pos]
        if quote:
            if c == "\\":
                pos += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                close = re.compile(r"\s*\]").match(path, pos + 1)
                if close is None:
                    break
                return close.end()
        pos += 1
    raise ExprError(f"jsonpath: unclosed filter at {path[start:]!r}")


def _filtered(values: list[Any], expression: str) -> list[Any]:
    """The children of each value for which the filter holds (`@` is the child)."""
    from foredeck.pipeline.exprlang.api import evaluate  # the evaluator registers jsonpath

    text = _AT.sub(lambda m: _ELEMENT if m.group(0) == "@" else m.group(0), expression)
    kept: list[Any] = []
    for value in values:
        for child in _children(value):
            try:
                holds = evaluate(text, {_ELEMENT: child})
            except ExprError:  # a key the element lacks: the filter does not hold
                holds = False
            if _truth(holds):
                kept.append(child)
    return kept


def _truth(value: Any) -> bool:
    """A filter's value as gval's EvalBool reads it: a bool, a number other than 0, or text Go's
    ParseBool takes as true (so `[?(@.id)]` keeps the elements that have a non-zero `id`)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return isinstance(value, str) and value in ("1", "t", "T", "TRUE", "true", "True")


def query(document: Any, path: str) -> Any:
    """The value(s) of `document` at `path`."""
    if not path.startswith("$"):
        raise ExprError(f"jsonpath: path must start with '$': {path!r}")
    values, many, pos = [document], False, 1
    while pos < len(path):
        f = _FILTER.match(path, pos)
        if f is not None:
            end = _filter_end(path, f.end())
            values, many = _filtered(values, path[f.end() : path.rindex(")", 0, end)]), True
            pos = end
            continue
        m = _STEP.match(path, pos)
        if m is None:
            raise ExprError(f"jsonpath: unsupported syntax at {path[pos:]!r}")
        pos = m.end()
        key = m.group("key") or m.group("sq") or m.group("dq")
        if m.group("sq") == "" or m.group("dq") == "":
            key = ""
        nxt: list[Any] = []
        if m.group("deep"):
            many = True
            for v in values:
                nxt.extend(_descend(v, m.group("deep")))
        elif key == "*" or m.group("star"):
            many = True
            for v in values:
                nxt.extend(_children(v))
        elif key is not None:
            nxt = [v[key] for v in values if isinstance(v, dict) and key in v]
        elif m.group("idx") is not None:
            i = int(m.group("idx"))
            nxt = [v[i] for v in values if isinstance(v, list) and -len(v) <= i < len(v)]
        else:
            many = True
            lo, hi = m.group("lo"), m.group("hi")
            for v in values:
                if isinstance(v, list):
                    nxt.extend(v[int(lo) if lo else None : int(hi) if hi else None])
        values = nxt
        if not many and not values:
            raise ExprError(f"jsonpath: unknown key or index at {path[: m.end()]!r}")
    return values if many else values[0]
