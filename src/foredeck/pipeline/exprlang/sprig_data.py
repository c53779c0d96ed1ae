"""Sprig's defaults, encodings, lists, dicts and paths (`sprig.py` holds strings and numbers)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import posixpath
from collections.abc import Callable
from typing import Any, TypeVar

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.limits import check_size
from foredeck.pipeline.exprlang.registry import need_list, need_map, register
from foredeck.pipeline.exprlang.sprig import empty, text, to_int
from foredeck.pipeline.exprlang.values import equal, go_format, go_json, type_name

F = TypeVar("F", bound=Callable[..., Any])


def _reg(name: str, low: int, high: int | None = -1) -> Callable[[F], F]:
    return register("sprig." + name, low, high)


# -- defaults and flow --------------------------------------------------------------------------

_reg("default", 1, 2)(lambda d, v=None: d if empty(v) else v)
_reg("empty", 1)(empty)
_reg("coalesce", 0, None)(lambda *a: next((v for v in a if not empty(v)), None))
_reg("ternary", 3)(lambda t, f, cond: t if cond is True else f)
_reg("typeOf", 1)(type_name)
_reg("kindOf", 1)(type_name)
_reg("deepEqual", 2)(equal)

# -- encodings ----------------------------------------------------------------------------------


def _json(name: str, html: bool = True, indent: int | None = None) -> None:
    """sprig's `toJson` (`json.Marshal`), `toPrettyJson` (`MarshalIndent`, two spaces) and
    `toRawJson` (an encoder that leaves `<>&` as they are)."""

    def encode(v: Any) -> str:
        try:
            return go_json(v, html=html, indent=indent)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ExprError(f"sprig.{name}: {exc}") from None

    _reg(name, 1)(encode)


_json("toJson")
_json("toRawJson", html=False)
_json("toPrettyJson", indent=2)


@_reg("fromJson", 1)
def _from_json(v: Any) -> Any:
    try:
        return json.loads(text(v), parse_int=float)
    except ValueError:
        return {}  # sprig's fromJson swallows the error (mustFromJson raises)


@_reg("mustFromJson", 1)
def _must_from_json(v: Any) -> Any:
    try:
        return json.loads(text(v), parse_int=float)
    except ValueError as exc:
        raise ExprError(f"sprig.mustFromJson: {exc}") from None


_reg("b64enc", 1)(lambda s: base64.b64encode(text(s).encode()).decode())
_reg("b32enc", 1)(lambda s: base64.b32encode(text(s).encode()).decode())


@_reg("b64dec", 1)
def _b64dec(s: Any) -> str:
    try:
        return base64.b64decode(text(s), validate=True).decode(errors="replace")
    except binascii.Error as exc:
        return f"{exc}"  # sprig returns the error text


_reg("sha1sum", 1)(lambda s: hashlib.sha1(text(s).encode(), usedforsecurity=False).hexdigest())
_reg("sha256sum", 1)(lambda s: hashlib.sha256(text(s).encode()).hexdigest())

# -- lists --------------------------------------------------------------------------------------

_reg("list", 0, None)(lambda *a: list(a))
_reg("first", 1)(lambda v: need_list("sprig.first", v)[0] if v else None)
_reg("last", 1)(lambda v: need_list("sprig.last", v)[-1] if v else None)
_reg("rest", 1)(lambda v: need_list("sprig.rest", v)[1:])
_reg("initial", 1)(lambda v: need_list("sprig.initial", v)[:-1])
_reg("append", 2)(lambda v, x: check_size([*need_list("sprig.append", v), x]))
_reg("push", 2)(lambda v, x: check_size([*need_list("sprig.push", v), x]))
_reg("prepend", 2)(lambda v, x: check_size([x, *need_list("sprig.prepend", v)]))
_reg("concat", 0, None)(lambda *a: check_size([x for v in a for x in need_list("sprig.concat", v)]))
_reg("reverse", 1)(lambda v: list(reversed(need_list("sprig.reverse", v))))
_reg("compact", 1)(lambda v: [x for x in need_list("sprig.compact", v) if not empty(x)])
_reg("has", 2)(lambda x, v: any(equal(x, y) for y in need_list("sprig.has", v)))


@_reg("uniq", 1)
def _uniq(v: Any) -> list[Any]:
    out: list[Any] = []
    for item in need_list("sprig.uniq", v):
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


@_reg("without", 1, None)
def _without(v: Any, *drop: Any) -> list[Any]:
    return [x for x in need_list("sprig.without", v) if not any(equal(x, d) for d in drop)]


@_reg("slice", 1, 3)
def _slice(v: Any, *bounds: Any) -> list[Any]:
    items = need_list("sprig.slice", v)
    low = to_int(bounds[0]) if bounds else 0
    high = to_int(bounds[1]) if len(bounds) > 1 else len(items)
    return items[low:high]


# -- dicts --------------------------------------------------------------------------------------


@_reg("dict", 0, None)
def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        out[text(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


_reg("get", 2)(lambda d, k: need_map("sprig.get", d).get(text(k), ""))
_reg("hasKey", 2)(lambda d, k: text(k) in need_map("sprig.hasKey", d))
_reg("keys", 1, None)(lambda *ds: [k for d in ds for k in need_map("sprig.keys", d)])
_reg("values", 1)(lambda d: list(need_map("sprig.values", d).values()))
_reg("pluck", 1, None)(
    lambda k, *ds: [need_map("sprig.pluck", d)[text(k)] for d in ds if text(k) in d]
)
_reg("pick", 1, None)(
    lambda d, *ks: {k: v for k, v in need_map("sprig.pick", d).items() if k in map(text, ks)}
)
_reg("omit", 1, None)(
    lambda d, *ks: {k: v for k, v in need_map("sprig.omit", d).items() if k not in map(text, ks)}
)


@_reg("set", 3)
def _set(d: Any, k: Any, v: Any) -> dict[str, Any]:
    target = need_map("sprig.set", d)
    target[text(k)] = v
    return target


@_reg("unset", 2)
def _unset(d: Any, k: Any) -> dict[str, Any]:
    target = need_map("sprig.unset", d)
    target.pop(text(k), None)
    return target


# -- paths --------------------------------------------------------------------------------------

_reg("base", 1)(lambda p: posixpath.basename(text(p).rstrip("/")) or ("/" if text(p) else "."))
_reg("dir", 1)(lambda p: posixpath.dirname(text(p)) or ".")
_reg("ext", 1)(lambda p: posixpath.splitext(text(p))[1])
_reg("clean", 1)(lambda p: posixpath.normpath(text(p)) if text(p) else ".")
_reg("isAbs", 1)(lambda p: text(p).startswith("/"))
_reg("toDecimal", 1)(lambda s: to_int("0o" + text(s)) if text(s).isdigit() else 0)
_reg("strval", 1)(lambda v: text(v) if not isinstance(v, bytes) else go_format(v))
