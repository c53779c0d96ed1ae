"""The functions Argo adds to expr-lang's: `asInt`, `asFloat`, `jsonpath`, `toJson`.

(argo-workflows `util/expr/env`: `asInt` and `asFloat` are expr-lang's own `int` and `float`
under their older names; every workflow value is a string, so expressions convert before doing
arithmetic. `jsonpath` decodes JSON as Go does, every number a float64.)
"""

from __future__ import annotations

import json
from typing import Any

from foredeck.pipeline.exprlang.builtins import to_float, to_int
from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.jsonpath import query
from foredeck.pipeline.exprlang.registry import need_str, register
from foredeck.pipeline.exprlang.values import to_json


@register("asInt", 1)
def as_int(v: Any) -> int:
    try:
        return to_int(v)
    except ExprError as exc:
        raise ExprError(exc.message.replace("int:", "asInt:", 1)) from None


@register("asFloat", 1)
def as_float(v: Any) -> float:
    try:
        return to_float(v)
    except ExprError as exc:
        raise ExprError(exc.message.replace("float:", "asFloat:", 1)) from None


@register("jsonpath", 2)
def jsonpath(document: Any, path: Any) -> Any:
    text = need_str("jsonpath", document)
    try:
        parsed = json.loads(text, parse_int=float)
    except ValueError as exc:
        raise ExprError(f"jsonpath: invalid JSON: {exc}") from None
    return query(parsed, need_str("jsonpath", path))


register("toJson", 1)(to_json)
