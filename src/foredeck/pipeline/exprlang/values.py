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


def to_json(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ExprError(f"toJSON: {exc}") from None


def from_json(text: Any) -> Any:
    if not isinstance(text, str):
        raise ExprError(f"fromJSON: expected a string, got {type_name(text)}")
    try:
        return json.loads(text, parse_int=float)  # Go decodes every JSON number as a float64
    except ValueError as exc:
        raise ExprError(f"fromJSON: invalid JSON: {exc}") from None
