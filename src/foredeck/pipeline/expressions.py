"""Tekton-style `$(...)` expressions: the one substitution language of the IR.

Validation uses `references()` to find what a value depends on; the executor uses
`substitute()` with a lookup built from params, task results and run context. Keeping both in one
module guarantees that what validation accepts is exactly what the executor can resolve.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from foredeck.pipeline.model import ParamValue

# `$(params.x)`, `$(params.arr[*])`, `$(tasks.T.results.R)`, `$(params["x"])`, `$(context.X.Y)`
_EXPR = re.compile(r"\$\(\s*([A-Za-z_][^()\s]*?)\s*\)")
_BRACKET = re.compile(r"""\[\s*["']([^"'\]]+)["']\s*\]""")


@dataclass(frozen=True)
class Reference:
    """A parsed reference. `path` is dotted (`params.x`, `tasks.T.results.R`); `star` is `[*]`."""

    path: str
    star: bool = False
    index: int | None = None

    @property
    def parts(self) -> list[str]:
        return self.path.split(".")

    @property
    def text(self) -> str:
        suffix = "[*]" if self.star else (f"[{self.index}]" if self.index is not None else "")
        return f"$({self.path}{suffix})"


def _parse(inner: str) -> Reference:
    inner = _BRACKET.sub(lambda m: "." + m.group(1), inner)  # params["x"] -> params.x
    if inner.endswith("[*]"):
        return Reference(inner[:-3], star=True)
    m = re.fullmatch(r"(.*)\[(\d+)\]", inner)
    if m:
        return Reference(m.group(1), index=int(m.group(2)))
    return Reference(inner)


def iter_references(text: str) -> Iterator[Reference]:
    for m in _EXPR.finditer(text):
        yield _parse(m.group(1))


def references(value: ParamValue | None) -> list[Reference]:
    """Every reference inside a string, an array or an object value."""
    if value is None:
        return []
    if isinstance(value, str):
        return list(iter_references(value))
    items = value.values() if isinstance(value, dict) else value
    return [ref for item in items for ref in iter_references(item)]


Lookup = Callable[[str], ParamValue | None]
"""Maps a dotted path (`params.x`) to its value, or None when unknown."""


class SubstitutionError(ValueError):
    pass


def _resolve(ref: Reference, lookup: Lookup) -> ParamValue | None:
    value = lookup(ref.path)
    if value is None and "." in ref.path:
        # `params.obj.key`: an object param's field
        head, key = ref.path.rsplit(".", 1)
        parent = lookup(head)
        if isinstance(parent, dict):
            value = parent.get(key)
    if value is None:
        return None
    if ref.index is not None:
        if not isinstance(value, list):
            raise SubstitutionError(f"{ref.text}: not an array")
        if ref.index >= len(value):
            raise SubstitutionError(f"{ref.text}: index out of range (length {len(value)})")
        return value[ref.index]
    return value


def _as_text(ref: Reference, value: ParamValue) -> str:
    if isinstance(value, str):
        return value
    if ref.star or isinstance(value, dict):
        return json.dumps(value) if isinstance(value, dict) else " ".join(value)
    return " ".join(value)


def substitute(text: str, lookup: Lookup, *, strict: bool = True) -> str:
    """Replace every `$(...)` in `text`. Unknown references raise when `strict`, else stay."""

    def repl(m: re.Match[str]) -> str:
        ref = _parse(m.group(1))
        value = _resolve(ref, lookup)
        if value is None:
            if strict:
                raise SubstitutionError(f"unresolved reference {m.group(0)}")
            return m.group(0)
        return _as_text(ref, value)

    return _EXPR.sub(repl, text)


def substitute_list(items: list[str], lookup: Lookup, *, strict: bool = True) -> list[str]:
    """Substitute an argument list; an item that is exactly `$(params.arr[*])` expands in place."""
    out: list[str] = []
    for item in items:
        m = _EXPR.fullmatch(item.strip())
        if m:
            ref = _parse(m.group(1))
            if ref.star:
                value = _resolve(ref, lookup)
                if isinstance(value, list):
                    out.extend(value)
                    continue
        out.append(substitute(item, lookup, strict=strict))
    return out


def substitute_value(value: ParamValue, lookup: Lookup, *, strict: bool = True) -> ParamValue:
    """Substitute a param value, keeping its type (a lone `$(x[*])` string yields an array)."""
    if isinstance(value, str):
        m = _EXPR.fullmatch(value.strip())
        if m:
            ref = _parse(m.group(1))
            resolved = _resolve(ref, lookup)
            if isinstance(resolved, list) and ref.star:
                return list(resolved)
            if isinstance(resolved, dict) and ref.star:
                return dict(resolved)
        return substitute(value, lookup, strict=strict)
    if isinstance(value, dict):
        return {k: substitute(v, lookup, strict=strict) for k, v in value.items()}
    return substitute_list(value, lookup, strict=strict)
