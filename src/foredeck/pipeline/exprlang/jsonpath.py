"""The JSONPath subset of Argo's `jsonpath(json, path)`: `$`, `.key`, `['key']`, `[n]`, `[a:b]`,
`[*]` / `.*` and `..key`. A path with a wildcard or `..` gives a list, as PaesslerAG/jsonpath
(the library Argo uses) does; filters (`?(...)`) are refused with a clear error."""

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


def query(document: Any, path: str) -> Any:
    """The value(s) of `document` at `path`."""
    if not path.startswith("$"):
        raise ExprError(f"jsonpath: path must start with '$': {path!r}")
    values, many, pos = [document], False, 1
    while pos < len(path):
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
