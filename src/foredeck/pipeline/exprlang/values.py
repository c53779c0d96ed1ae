"""Values as expr-lang and Go see them: type names, equality, and `%v` formatting.

Argo writes an expression's result with Go's `fmt.Sprintf("%v", result)`, so `{{=1 + 1}}` is
`2`, `{{=1 / 2}}` is `0.5`, `{{=true}}` is `true` and a list is `[a b]`; `go_format` does the same.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from foredeck.pipeline.exprlang.errors import ExprError


def type_name(value: Any) -> str:
    """expr-lang's `type()` names."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, datetime):
        return "time.Time"
    if isinstance(value, timedelta):
        return "time.Duration"
    return "unknown"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def equal(left: Any, right: Any) -> bool:
    """expr-lang's `==`: numbers compare by value across int and float, others by content."""
    if is_number(left) and is_number(right):
        return bool(left == right)
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(
            equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(equal(left[k], right[k]) for k in left)
    return bool(left == right)


def go_float(value: float) -> str:
    """Go's `%v` of a float64: the shortest digits, in `e` form when the exponent is below -4
    or at least 6 (`1e+06`, `1.5e-05`), else plain (`0.5`, `2`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    number = Decimal(repr(abs(value))).normalize()
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    exp = len(digits) - 1 + exponent
    if exp < -4 or exp >= 6:
        text = "".join(map(str, digits))
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{sign}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    return sign + format(number, "f")


def go_format(value: Any) -> str:
    """`fmt.Sprintf("%v", value)` for the values an expression can produce."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{go_format(k)}:{go_format(value[k])}" for k in sorted(value, key=str))
        return "map[" + " ".join(pairs) + "]"
    if isinstance(value, timedelta):  # Go's time.Duration.String()
        from foredeck.pipeline.exprlang.dates import go_duration

        return go_duration(value)
    if isinstance(value, datetime):  # Go's time.Time.String()
        stamp = value.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")
        return f"{stamp} {value.strftime('%z')} {value.tzname() or 'UTC'}"
    return str(value)


def json_float(value: float) -> str:
    """A float64 as Go's `encoding/json` writes it: shortest digits, plain between 1e-6 and
    1e21 (`1`, `0.000001`, `10000000000000000`), else `e` form without a leading zero in a
    negative exponent (`1e+21`, `1.5e-7`). NaN and infinities are refused, as there."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"unsupported value: {go_float(value)}")
    magnitude = abs(value)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        text = format(Decimal(repr(value)), "f")
        return text[:-2] if text.endswith(".0") else text
    text = repr(value).replace("e-0", "e-")
    return text.replace(".0e", "e")


_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
_LINE_SEPARATORS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029"})


def go_json(value: Any, *, html: bool = True, indent: int | None = None) -> str:
    """Go's `json.Marshal` (`MarshalIndent` with `indent` spaces) of an expression value: map
    keys sorted, floats as Go writes them, `<`, `>` and `&` escaped in strings unless `html` is
    False (an encoder with `SetEscapeHTML(false)`), U+2028 and U+2029 always. Raises ValueError
    for what Go refuses (NaN, infinities, a value JSON has no form for)."""
    return _encode(value, html, indent, 0)


def _encode(value: Any, html: bool, indent: int | None, level: int) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json_float(value)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False).translate(_LINE_SEPARATORS)
        return text.translate(_HTML_SAFE) if html else text
    if isinstance(value, dict):
        items = [
            f"{_encode(str(k), html, None, 0)}:{' ' if indent else ''}"
            + _encode(value[k], html, indent, level + 1)
            for k in sorted(value, key=str)
        ]
        return _join(items, "{}", indent, level)
    if isinstance(value, list | tuple):
        return _join([_encode(v, html, indent, level + 1) for v in value], "[]", indent, level)
    raise ValueError(f"unsupported type: {type_name(value)}")


def _join(items: list[str], brackets: str, indent: int | None, level: int) -> str:
    if not items:
        return brackets
    if not indent:
        return brackets[0] + ",".join(items) + brackets[1]
    inner = "\n" + " " * (indent * (level + 1))
    outer = "\n" + " " * (indent * level)
    return brackets[0] + inner + ("," + inner).join(items) + outer + brackets[1]


_GO_ESCAPES = {c: "\\" + letter for c, letter in zip("\a\b\f\n\r\t\v", "abfnrtv", strict=True)}


def go_quote(text: str) -> str:
    """Go's `strconv.Quote`: a double-quoted literal; printable characters kept as they are."""
    out = ['"']
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable() or char == " ":
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def to_json(value: Any) -> str:
    """Argo's `toJson`: `json.Marshal`."""
    try:
        return go_json(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ExprError(f"toJson: {exc}") from None


def from_json(text: Any) -> Any:
    if not isinstance(text, str):
        raise ExprError(f"fromJSON: expected a string, got {type_name(text)}")
    try:
        return json.loads(text, parse_int=float)  # Go decodes every JSON number as a float64
    except ValueError as exc:
        raise ExprError(f"fromJSON: invalid JSON: {exc}") from None
