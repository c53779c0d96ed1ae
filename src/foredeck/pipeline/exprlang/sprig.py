"""The commonly used part of Sprig (https://masterminds.github.io/sprig/), as Argo's `sprig.*`.

Sprig is written for Go templates, so the subject comes last (`sprig.trimPrefix("v", tag)`,
`sprig.replace("a", "b", text)`) and conversions are lenient (`sprig.atoi("x")` is 0). Functions
that read the environment, the clock or the network are left out (Argo removes `env` too).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

from foredeck.pipeline.exprlang.builtins import go_split, repeat
from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.limits import MAX_ITEMS, check_size, wrap_int
from foredeck.pipeline.exprlang.regexes import regex
from foredeck.pipeline.exprlang.registry import need_list, register
from foredeck.pipeline.exprlang.values import go_format, is_number


def text(v: Any) -> str:
    """Sprig's `strval`: strings as they are, anything else formatted as Go's `%v`."""
    return v if isinstance(v, str) else ("" if v is None else go_format(v))


def to_int(v: Any) -> int:
    """`cast.ToInt64`: lenient, 0 when it cannot convert."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return wrap_int(int(v)) if math.isfinite(v) else 0
    if isinstance(v, str):
        try:
            return wrap_int(int(v.strip(), 0))
        except ValueError:
            return 0
    return 0


def to_float(v: Any) -> float:
    if is_number(v) or isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return 0.0
    return 0.0


def empty(v: Any) -> bool:
    return v is None or v is False or v == 0 or (isinstance(v, str | list | dict) and not v)


F = TypeVar("F", bound=Callable[..., Any])


def _reg(name: str, low: int, high: int | None = -1) -> Callable[[F], F]:
    return register("sprig." + name, low, high)


# -- strings ------------------------------------------------------------------------------------

_reg("trim", 1)(lambda s: text(s).strip())
_reg("trimAll", 2)(lambda cut, s: text(s).strip(text(cut)))
_reg("trimPrefix", 2)(lambda p, s: text(s).removeprefix(text(p)))
_reg("trimSuffix", 2)(lambda p, s: text(s).removesuffix(text(p)))
_reg("upper", 1)(lambda s: text(s).upper())
_reg("lower", 1)(lambda s: text(s).lower())
_reg("title", 1)(lambda s: re.sub(r"(?<![\w'])\w", lambda m: m.group(0).upper(), text(s)))
_reg("untitle", 1)(lambda s: re.sub(r"\b\w", lambda m: m.group(0).lower(), text(s)))
_reg("repeat", 2)(lambda n, s: repeat(text(s), to_int(n)))
_reg("nospace", 1)(lambda s: re.sub(r"\s", "", text(s)))
_reg("contains", 2)(lambda sub, s: text(sub) in text(s))
_reg("hasPrefix", 2)(lambda p, s: text(s).startswith(text(p)))
_reg("hasSuffix", 2)(lambda p, s: text(s).endswith(text(p)))
_reg("replace", 3)(lambda old, new, s: check_size(text(s).replace(text(old), text(new))))
_reg("cat", 0, None)(lambda *a: " ".join(text(v) for v in a if v is not None))
_reg("quote", 0, None)(lambda *a: " ".join(json.dumps(text(v)) for v in a if v is not None))
_reg("squote", 0, None)(lambda *a: " ".join(f"'{text(v)}'" for v in a if v is not None))
_reg("indent", 2)(lambda n, s: " " * to_int(n) + text(s).replace("\n", "\n" + " " * to_int(n)))
_reg("nindent", 2)(
    lambda n, s: "\n" + " " * to_int(n) + text(s).replace("\n", "\n" + " " * to_int(n))
)
_reg("plural", 3)(lambda one, many, n: text(one) if to_int(n) == 1 else text(many))
_reg("toString", 1)(text)
_reg("toStrings", 1)(lambda v: [text(x) for x in need_list("sprig.toStrings", v)])


@_reg("trunc", 2)
def _trunc(n: Any, s: Any) -> str:
    count, value = to_int(n), text(s)
    if count < 0:
        return value[count:] if -count < len(value) else value
    return value[:count]


@_reg("substr", 3)
def _substr(start: Any, end: Any, s: Any) -> str:
    value, low, high = text(s), to_int(start), to_int(end)
    if low < 0:
        return value[:high]
    if high < 0 or high > len(value):
        return value[low:]
    return value[low:high]


@_reg("abbrev", 2)
def _abbrev(width: Any, s: Any) -> str:
    value, limit = text(s), to_int(width)
    return value if limit < 4 or len(value) <= limit else value[: limit - 3] + "..."


def _words(s: Any) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text(s))
    return [w for w in re.split(r"[\s_\-]+", spaced) if w]


_reg("snakecase", 1)(lambda s: "_".join(w.lower() for w in _words(s)))
_reg("kebabcase", 1)(lambda s: "-".join(w.lower() for w in _words(s)))
_reg("camelcase", 1)(lambda s: "".join(w[:1].upper() + w[1:] for w in _words(s)))


@_reg("split", 2)
def _split(sep: Any, s: Any) -> dict[str, str]:
    return {f"_{i}": part for i, part in enumerate(go_split(text(s), text(sep)))}


_reg("splitList", 2)(lambda sep, s: go_split(text(s), text(sep)))


@_reg("splitn", 3)
def _splitn(sep: Any, n: Any, s: Any) -> dict[str, str]:
    parts = go_split(text(s), text(sep), to_int(n))
    return {f"_{i}": part for i, part in enumerate(parts)}


@_reg("join", 2)
def _join(sep: Any, v: Any) -> str:
    items = v if isinstance(v, list) else [v]
    return check_size(text(sep).join(text(x) for x in items if x is not None))


_reg("sortAlpha", 1)(lambda v: sorted(text(x) for x in need_list("sprig.sortAlpha", v)))

# -- regular expressions (RE2, as Go's regexp: see regexes.py) ------------------------------


def _go_replacement(template: str) -> str:
    """Go's `$1` / `${name}` replacement syntax as Python's `\\g<...>`."""
    escaped = template.replace("\\", "\\\\")
    return re.sub(r"\$(\d+|\{\w+\}|\$)", lambda m: _group(m.group(1)), escaped)


def _group(ref: str) -> str:
    if ref == "$":
        return "$"
    return f"\\g<{ref.strip('{}')}>"


_reg("regexMatch", 2)(lambda r, s: regex(text(r)).search(text(s)) is not None)


@_reg("regexFind", 2)
def _regex_find(r: Any, s: Any) -> str:
    m = regex(text(r)).search(text(s))
    return m.group(0) if m else ""


@_reg("regexFindAll", 3)
def _regex_find_all(r: Any, s: Any, n: Any) -> list[str]:
    found = [m.group(0) for m in regex(text(r)).finditer(text(s))]
    limit = to_int(n)
    return check_size(found if limit < 0 else found[:limit])


_reg("regexReplaceAll", 3)(
    lambda r, s, repl: check_size(regex(text(r)).sub(_go_replacement(text(repl)), text(s)))
)
_reg("regexReplaceAllLiteral", 3)(
    lambda r, s, repl: check_size(regex(text(r)).sub(lambda _: text(repl), text(s)))
)
_reg("regexSplit", 3)(lambda r, s, n: regex(text(r)).split(text(s), max(to_int(n) - 1, 0)))
_reg("regexQuoteMeta", 1)(lambda s: re.escape(text(s)))

# -- numbers ------------------------------------------------------------------------------------

_reg("atoi", 1)(to_int)
_reg("int", 1)(to_int)
_reg("int64", 1)(to_int)
_reg("float64", 1)(to_float)
_reg("add1", 1)(lambda a: wrap_int(to_int(a) + 1))
_reg("add", 1, None)(lambda *a: wrap_int(sum(to_int(v) for v in a)))
_reg("sub", 2)(lambda a, b: wrap_int(to_int(a) - to_int(b)))
_reg("mul", 1, None)(lambda *a: wrap_int(math.prod(to_int(v) for v in a)))
_reg("max", 1, None)(lambda *a: max(to_int(v) for v in a))
_reg("min", 1, None)(lambda *a: min(to_int(v) for v in a))
_reg("addf", 1, None)(lambda *a: math.fsum(to_float(v) for v in a))
_reg("subf", 2)(lambda a, b: to_float(a) - to_float(b))
_reg("mulf", 1, None)(lambda *a: math.prod(to_float(v) for v in a))
_reg("maxf", 1, None)(lambda *a: max(to_float(v) for v in a))
_reg("minf", 1, None)(lambda *a: min(to_float(v) for v in a))
_reg("floor", 1)(lambda a: float(math.floor(to_float(a))))
_reg("ceil", 1)(lambda a: float(math.ceil(to_float(a))))


@_reg("div", 2)
def _div(a: Any, b: Any) -> int:
    divisor = to_int(b)
    if divisor == 0:
        raise ExprError("sprig.div: integer divide by zero")
    return int(to_int(a) / divisor)


@_reg("mod", 2)
def _mod(a: Any, b: Any) -> int:
    divisor = to_int(b)
    if divisor == 0:
        raise ExprError("sprig.mod: integer divide by zero")
    return int(math.fmod(to_int(a), divisor))


@_reg("divf", 2)
def _divf(a: Any, b: Any) -> float:
    divisor = to_float(b)
    if divisor == 0:
        return math.inf if to_float(a) > 0 else -math.inf if to_float(a) < 0 else math.nan
    return to_float(a) / divisor


@_reg("round", 2, 3)
def _round(a: Any, places: Any, half: Any = 0.5) -> float:
    scale = 10 ** to_int(places)
    value = to_float(a) * scale
    rounded = math.floor(abs(value) + to_float(half)) * (1 if value >= 0 else -1)
    return float(rounded / scale)


def _range(start: int, stop: int, step: int) -> list[int]:
    if step == 0 or (stop - start) // step >= MAX_ITEMS:
        raise ExprError(f"sprig: range longer than {MAX_ITEMS} items or with a zero step")
    return list(range(start, stop, step))


_reg("until", 1)(lambda n: _range(0, to_int(n), 1 if to_int(n) >= 0 else -1))
_reg("untilStep", 3)(lambda a, b, s: _range(to_int(a), to_int(b), to_int(s)))


@_reg("seq", 1, 3)
def _seq(*args: Any) -> str:
    ints = [to_int(a) for a in args]
    start, step, end = (1, 1, ints[0]) if len(ints) == 1 else (ints[0], 1, ints[-1])
    if len(ints) == 3:
        step = ints[1]
    if len(ints) == 2 and end < start:
        step = -1
    return " ".join(str(i) for i in _range(start, end + (1 if step > 0 else -1), step))
