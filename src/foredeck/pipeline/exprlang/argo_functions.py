"""The functions Argo adds to expr-lang's: `asInt`, `asFloat`, `jsonpath`, `toJson`.

(argo-workflows `util/expr/env`: the first two predate expr-lang's own `int`/`float`; every
workflow value is a string, so expressions convert before doing arithmetic.)
"""

from __future__ import annotations

import json
import math
from typing import Any

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.jsonpath import query
from foredeck.pipeline.exprlang.limits import wrap_int
from foredeck.pipeline.exprlang.registry import need_str, register
from foredeck.pipeline.exprlang.values import is_number, to_json, type_name


@register("asInt", 1)
def as_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ExprError("asInt: cannot convert a bool")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v):
        return wrap_int(int(v))
    if isinstance(v, str):
        try:
            return wrap_int(int(v.strip(), 10))
        except ValueError:
            raise ExprError(f"asInt: {v!r} is not an integer") from None
    raise ExprError(f"asInt: cannot convert {type_name(v)}")


@register("asFloat", 1)
def as_float(v: Any) -> float:
    if is_number(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            raise ExprError(f"asFloat: {v!r} is not a number") from None
    raise ExprError(f"asFloat: cannot convert {type_name(v)}")


@register("jsonpath", 2)
def jsonpath(document: Any, path: Any) -> Any:
    text = need_str("jsonpath", document)
    try:
        parsed = json.loads(text, parse_int=float)  # as Go decodes JSON numbers
    except ValueError as exc:
        raise ExprError(f"jsonpath: invalid JSON: {exc}") from None
    return query(parsed, need_str("jsonpath", path))


register("toJson", 1)(to_json)
