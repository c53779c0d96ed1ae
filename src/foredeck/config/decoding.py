"""Read YAML values the way Prow does: sigs.k8s.io/yaml into Go structs.

Prow decodes its config with sigs.k8s.io/yaml, which turns YAML into JSON guided by the target
Go type, then `json.Unmarshal`s it. Two consequences that real configs rely on:

- a key with no value (`env:` followed only by a comment) is JSON `null`, which leaves the Go
  field at its zero value: an empty list, map or string, `0`, `false`, a nil pointer;
- a number or boolean where the Go field is a string (`value: 300` in an env var, a label
  `preset-x: true`) becomes its text, formatted as Go formats it.

`coercer(annotation)` derives that behaviour from a pydantic field's type once, so every model
gets it from its field declarations instead of field-by-field validators.
"""

from __future__ import annotations

import math
import struct
import types
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

Coerce = Callable[[Any], Any]
"""Returns its argument itself when there is nothing to change (callers test identity)."""

_SCALARS = (bool, int, float)


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def go_float_text(value: float) -> str:
    """`strconv.FormatFloat(value, 'g', -1, 32)`, what sigs.k8s.io/yaml writes for a float."""
    if math.isnan(value):
        return "NaN"
    try:
        single = _float32(value)
    except OverflowError:
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return "+Inf" if single > 0 else "-Inf"
    text = f"{single:.8e}"
    for digits in range(9):  # the fewest digits that read back as the same float32
        text = f"{single:.{digits}e}"
        if _float32(float(text)) == single:
            break
    mantissa, _, exponent = text.partition("e")
    exp = int(exponent)
    if exp < -4 or exp >= 6:  # Go's %g switch point for the shortest representation
        return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return format(Decimal(text), "f")


def go_text(value: bool | int | float) -> str:
    """The text sigs.k8s.io/yaml gives a YAML number or boolean bound for a Go string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return go_float_text(value)


def _to_str(value: Any) -> Any:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, _SCALARS):
        return go_text(value)
    return value


def _scalar_to_str(value: Any) -> Any:
    """For a field that is a string among other shapes: only numbers and booleans change."""
    return go_text(value) if type(value) is not str and isinstance(value, _SCALARS) else value


def _zero(zero: Any) -> Coerce:
    return lambda value: zero if value is None else value


def _empty_struct(value: Any) -> Any:
    return {} if value is None else value


def _items_of(kind: type[list[Any]] | type[dict[Any, Any]], item: Coerce | None) -> Coerce:
    """A list or a mapping whose items decode with `item`; copied only when one changes."""

    def coerce(value: Any) -> Any:
        if value is None:
            return kind()
        if item is None or not isinstance(value, kind):
            return value
        out: Any = None
        for key, element in enumerate(value) if isinstance(value, list) else value.items():
            new = item(element)
            if new is not element:
                if out is None:
                    out = kind(value)
                out[key] = new
        return value if out is None else out

    return coerce


def _optional(inner: Coerce) -> Coerce:
    return lambda value: value if value is None else inner(value)


def coercer(annotation: Any) -> Coerce | None:
    """How a value bound for a field of type `annotation` is decoded, or None: left as is.

    `None` in the field's type (a Go pointer) keeps null as null; otherwise null becomes the
    type's zero value. Nested models decode their own fields (see `ProwModel`).
    """
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        members = get_args(annotation)
        present = [m for m in members if m is not type(None)]
        nullable = len(present) < len(members)
        if len(present) == 1:
            inner = coercer(present[0])
        elif str in present and not any(m in _SCALARS for m in present):
            inner = _scalar_to_str
        else:
            inner = None
        if inner is None:
            return None
        return _optional(inner) if nullable else inner
    if annotation is str:
        return _to_str
    if annotation in _SCALARS:
        return _zero(annotation())
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        return _items_of(list, coercer(item))
    if origin is dict:
        _, item = get_args(annotation) or (str, Any)
        return _items_of(dict, coercer(item))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _empty_struct
    return None


def field_coercers(model: type[BaseModel]) -> dict[str, Coerce]:
    """Per input key (field name and alias) of `model`, the decoding its type asks for."""
    plan: dict[str, Coerce] = {}
    for name, info in model.model_fields.items():
        coerce = coercer(info.annotation)
        if coerce is None:
            continue
        plan[name] = coerce
        if info.alias:
            plan[info.alias] = coerce
    return plan


def decode(plan: dict[str, Coerce], data: dict[str, Any]) -> dict[str, Any]:
    """`data` with every planned key decoded; `data` itself when nothing changes."""
    out: dict[str, Any] | None = None
    for key, value in data.items():
        coerce = plan.get(key)
        if coerce is None:
            continue
        new = coerce(value)
        if new is not value:
            if out is None:
                out = dict(data)
            out[key] = new
    return data if out is None else out
