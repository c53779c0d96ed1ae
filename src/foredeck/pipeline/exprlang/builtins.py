"""expr-lang's builtin functions (https://expr-lang.org/docs/language-definition), minus dates.

Predicate builtins (`filter`, `map`, `all` ...) live in `predicates.py`: they evaluate a closure.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.limits import MAX_ITEMS, check_size, wrap_int
from foredeck.pipeline.exprlang.registry import (
    need_int,
    need_list,
    need_map,
    need_number,
    need_str,
    register,
)
from foredeck.pipeline.exprlang.values import (
    equal,
    from_json,
    go_format,
    go_json,
    is_number,
    type_name,
)

_GO_INT = re.compile(r"[+-]?[0-9]+")


@register("len", 1)
def _len(v: Any) -> int:
    if isinstance(v, str | list | dict):
        return len(v)
    raise ExprError(f"len: invalid argument of type {type_name(v)}")


@register("type", 1)
def _type(v: Any) -> str:
    return type_name(v)


@register("int", 1)
def to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ExprError("int: invalid argument of type bool")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise ExprError(f"int: cannot convert {v}")
        return wrap_int(int(v))
    if isinstance(v, str):
        if not _GO_INT.fullmatch(v):  # Go's strconv.Atoi: no spaces, no underscores
            raise ExprError(f"int: invalid syntax: {v!r}")
        return wrap_int(int(v))
    raise ExprError(f"int: invalid argument of type {type_name(v)}")


@register("float", 1)
def to_float(v: Any) -> float:
    if is_number(v):
        return float(v)
    if isinstance(v, str):
        try:
            if v != v.strip() or "_" in v:
                raise ValueError(v)
            return float(v)
        except ValueError:
            raise ExprError(f"float: invalid syntax: {v!r}") from None
    raise ExprError(f"float: invalid argument of type {type_name(v)}")


@register("string", 1)
def _string(v: Any) -> str:
    return v if isinstance(v, str) else go_format(v)


@register("toJSON", 1)
def _to_json(v: Any) -> str:
    """expr-lang's `toJSON`: `json.MarshalIndent(v, "", "  ")`."""
    try:
        return check_size(go_json(v, indent=2))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ExprError(f"toJSON: {exc}") from None


register("fromJSON", 1)(from_json)


@register("toBase64", 1)
def _to_base64(v: Any) -> str:
    return base64.b64encode(need_str("toBase64", v).encode()).decode()


@register("fromBase64", 1)
def _from_base64(v: Any) -> str:
    try:
        return base64.b64decode(need_str("fromBase64", v), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ExprError(f"fromBase64: {exc}") from None


# -- strings ------------------------------------------------------------------------------------


@register("trim", 1, 2)
def _trim(s: Any, chars: Any = None) -> str:
    text = need_str("trim", s)
    return text.strip() if chars is None else text.strip(need_str("trim", chars))


@register("trimPrefix", 1, 2)
def _trim_prefix(s: Any, prefix: Any = " ") -> str:
    return need_str("trimPrefix", s).removeprefix(need_str("trimPrefix", prefix))


@register("trimSuffix", 1, 2)
def _trim_suffix(s: Any, suffix: Any = " ") -> str:
    return need_str("trimSuffix", s).removesuffix(need_str("trimSuffix", suffix))


@register("upper", 1)
def _upper(s: Any) -> str:
    return need_str("upper", s).upper()


@register("lower", 1)
def _lower(s: Any) -> str:
    return need_str("lower", s).lower()


def go_split(text: str, sep: str, n: int = -1, after: bool = False) -> list[str]:
    """Go's `strings.SplitN` / `SplitAfterN` (an empty separator splits into characters)."""
    if n == 0:
        return []
    if sep == "":
        parts = list(text)
        if 0 < n < len(parts):
            parts = [*parts[: n - 1], "".join(parts[n - 1 :])]
        return check_size(parts)
    parts = text.split(sep, n - 1 if n > 0 else -1)
    if after:
        parts = [p + sep for p in parts[:-1]] + parts[-1:]
    return check_size(parts)


@register("split", 2, 3)
def _split(s: Any, sep: Any, n: Any = -1) -> list[str]:
    return go_split(need_str("split", s), need_str("split", sep), need_int("split", n))


@register("splitAfter", 2, 3)
def _split_after(s: Any, sep: Any, n: Any = -1) -> list[str]:
    text, separator = need_str("splitAfter", s), need_str("splitAfter", sep)
    return go_split(text, separator, need_int("splitAfter", n), after=True)


@register("replace", 3, 4)
def _replace(s: Any, old: Any, new: Any, n: Any = -1) -> str:
    text, before, after = need_str("replace", s), need_str("replace", old), need_str("replace", new)
    return check_size(text.replace(before, after, need_int("replace", n)))


@register("repeat", 2)
def repeat(s: Any, n: Any) -> str:
    text, count = need_str("repeat", s), need_int("repeat", n)
    if count < 0:
        raise ExprError("repeat: negative count")
    check_size("" if len(text) * count <= 2**20 else "x" * (2**20 + 1))
    return text * count


@register("indexOf", 2)
def _index_of(s: Any, sub: Any) -> int:
    return need_str("indexOf", s).find(need_str("indexOf", sub))


@register("lastIndexOf", 2)
def _last_index_of(s: Any, sub: Any) -> int:
    return need_str("lastIndexOf", s).rfind(need_str("lastIndexOf", sub))


@register("hasPrefix", 2)
def _has_prefix(s: Any, prefix: Any) -> bool:
    return need_str("hasPrefix", s).startswith(need_str("hasPrefix", prefix))


@register("hasSuffix", 2)
def _has_suffix(s: Any, suffix: Any) -> bool:
    return need_str("hasSuffix", s).endswith(need_str("hasSuffix", suffix))


# -- numbers ------------------------------------------------------------------------------------


@register("abs", 1)
def _abs(v: Any) -> Any:
    return abs(need_number("abs", v))


@register("ceil", 1)
def _ceil(v: Any) -> float:
    return float(math.ceil(need_number("ceil", v)))


@register("floor", 1)
def _floor(v: Any) -> float:
    return float(math.floor(need_number("floor", v)))


@register("round", 1)
def _round(v: Any) -> float:
    number = need_number("round", v)
    return float(math.floor(abs(number) + 0.5) * (1 if number >= 0 else -1))


def _numbers(name: str, args: tuple[Any, ...]) -> list[Any]:
    """The numbers of `args`, arrays flattened (`max([1, 2], 3)` is 3), as expr-lang reads them."""
    out: list[Any] = []
    stack = list(reversed(args))
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
            continue
        out.append(need_number(name, value))
        if len(out) > MAX_ITEMS:
            raise ExprError(f"{name}: more than {MAX_ITEMS} values")
    return out


@register("max", 1, None)
def _max(*args: Any) -> Any:
    values = _numbers("max", args)
    if not values:
        raise ExprError("max: no values")
    return max(values)


@register("min", 1, None)
def _min(*args: Any) -> Any:
    values = _numbers("min", args)
    if not values:
        raise ExprError("min: no values")
    return min(values)


@register("mean", 1, None)
def _mean(*args: Any) -> float:
    values = _numbers("mean", args)
    return sum(values) / len(values) if values else 0.0


@register("median", 1, None)
def _median(*args: Any) -> float:
    values = sorted(_numbers("median", args))
    if not values:
        return 0.0
    mid = len(values) // 2
    return float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


# -- arrays and maps ----------------------------------------------------------------------------


@register("join", 1, 2)
def _join(v: Any, sep: Any = "") -> str:
    items = need_list("join", v)
    joined = need_str("join", sep).join(need_str("join", item) for item in items)
    return check_size(joined)


@register("first", 1)
def _first(v: Any) -> Any:
    items = need_list("first", v)
    return items[0] if items else None


@register("last", 1)
def _last(v: Any) -> Any:
    items = need_list("last", v)
    return items[-1] if items else None


@register("take", 2)
def _take(v: Any, n: Any) -> list[Any]:
    return need_list("take", v)[: max(need_int("take", n), 0)]


@register("reverse", 1)
def _reverse(v: Any) -> list[Any]:
    return list(reversed(need_list("reverse", v)))


@register("sort", 1, 2)
def _sort(v: Any, order: Any = "asc") -> list[Any]:
    items = need_list("sort", v)
    if order not in ("asc", "desc"):
        raise ExprError("sort: order must be 'asc' or 'desc'")
    if not (all(is_number(i) for i in items) or all(isinstance(i, str) for i in items)):
        raise ExprError("sort: the items must all be numbers or all strings")
    return sorted(items, reverse=order == "desc")


@register("uniq", 1)
def _uniq(v: Any) -> list[Any]:
    out: list[Any] = []
    for item in need_list("uniq", v):
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


@register("flatten", 1)
def _flatten(v: Any) -> list[Any]:
    out: list[Any] = []

    def walk(items: list[Any]) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                out.append(item)
                if len(out) > MAX_ITEMS:
                    raise ExprError(f"flatten: more than {MAX_ITEMS} items")

    walk(need_list("flatten", v))
    return out


@register("concat", 1, None)
def _concat(*lists: Any) -> list[Any]:
    out = [item for v in lists for item in need_list("concat", v)]
    return check_size(out)


@register("keys", 1)
def _keys(v: Any) -> list[Any]:
    return list(need_map("keys", v))


@register("values", 1)
def _values(v: Any) -> list[Any]:
    return list(need_map("values", v).values())


@register("toPairs", 1)
def _to_pairs(v: Any) -> list[Any]:
    return [[k, x] for k, x in need_map("toPairs", v).items()]


@register("fromPairs", 1)
def _from_pairs(v: Any) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for pair in need_list("fromPairs", v):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ExprError("fromPairs: expected pairs [key, value]")
        out[pair[0]] = pair[1]
    return out


@register("get", 2)
def _get(v: Any, key: Any) -> Any:
    if isinstance(v, dict):
        return v.get(key) if isinstance(key, str | int | float | bool) else None
    if isinstance(v, list) and isinstance(key, int) and not isinstance(key, bool):
        index = key + len(v) if key < 0 else key
        return v[index] if 0 <= index < len(v) else None
    return None


def _bits(name: str, *values: Any) -> list[int]:
    return [need_int(name, v) for v in values]


register("bitand", 2)(lambda a, b: wrap_int(_bits("bitand", a, b)[0] & b))
register("bitor", 2)(lambda a, b: wrap_int(_bits("bitor", a, b)[0] | b))
register("bitxor", 2)(lambda a, b: wrap_int(_bits("bitxor", a, b)[0] ^ b))
register("bitnand", 2)(lambda a, b: wrap_int(_bits("bitnand", a, b)[0] & ~b))
register("bitnot", 1)(lambda a: wrap_int(~_bits("bitnot", a)[0]))
register("bitshl", 2)(lambda a, b: wrap_int(_bits("bitshl", a, b)[0] << min(b, 64)))
register("bitshr", 2)(lambda a, b: _bits("bitshr", a, b)[0] >> min(b, 64))
register("bitushr", 2)(lambda a, b: (_bits("bitushr", a, b)[0] % 2**64) >> min(b, 64))
