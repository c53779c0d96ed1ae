"""Matrix fan-out: which parameter combinations a matrix task runs, resolved at run time.

The cross product of the matrix params comes first (in Tekton's order: the first param
varies fastest), then each `include` entry as one more combination. Instance `i` is named
`task[i]` in that order. A param's values may be an expression resolving to an array
(`$(tasks.gen.results.list[*])`) or a JSON array text (Argo's `withParam`). Then one
combination per item of `items` (a run-time list of objects, Argo's `withParam` with
`{{item.key}}`), its `$(item)` / `$(item.key)` filled in.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable

from foredeck.execute import lookups
from foredeck.pipeline.expressions import (
    Lookup,
    SubstitutionError,
    iter_references,
    substitute,
    substitute_list,
    substitute_value,
)
from foredeck.pipeline.model import Matrix, ParamValue, TaskStatus, WhenExpression

# Tekton's default `default-max-matrix-combinations-count`.
MAX_COMBINATIONS = 256


class ItemRow(dict[str, str]):
    """One combination of a loop over run-time items, with the item it came from: Argo's
    per-item `when` may read a field no argument passes (`$(item.key)`, `item_guard`)."""

    def __init__(self, params: dict[str, str], item: object) -> None:
        super().__init__(params)
        self.item = item


def instance_name(task: str, index: int) -> str:
    return f"{task}[{index}]"


def _axis(name: str, values: list[str] | str, lookup: Lookup) -> list[str]:
    if isinstance(values, list):
        if any(lookups.START in value for value in values):  # an Argo `{{=...}}` per item
            return lookups.args(values, lookup)
        return substitute_list(values, lookup)
    resolved = substitute_value(values, lookup)
    if isinstance(resolved, list):
        return resolved
    if isinstance(resolved, str):
        try:
            parsed = json.loads(resolved)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [item if isinstance(item, str) else json.dumps(item) for item in parsed]
    raise SubstitutionError(f"matrix param {name!r}: {values!r} is not an array")


def _text(value: str, lookup: Lookup) -> str:
    return lookups.text(value, lookup) if lookups.START in value else substitute(value, lookup)


def combinations(matrix: Matrix, lookup: Lookup) -> list[dict[str, str]]:
    """Every combination, in instance order. Raises SubstitutionError on unresolvable input."""
    names = list(matrix.params)
    axes = [_axis(name, matrix.params[name], lookup) for name in names]
    combos: list[dict[str, str]] = []
    if names:
        count = 1
        for axis in axes:
            count *= len(axis)
        if count + len(matrix.include) > MAX_COMBINATIONS:
            raise SubstitutionError(
                f"matrix has {count + len(matrix.include)} combinations,"
                f" over the limit of {MAX_COMBINATIONS}"
            )
        # Tekton's order: the first param varies fastest (linux-chrome, mac-chrome, ...).
        combos = [
            dict(zip(names, reversed(values), strict=True))
            for values in itertools.product(*reversed(axes))
        ]
    for index, extra in enumerate(matrix.include):
        if _holds(matrix.include_when.get(index, []), lookup):
            combos.append({key: _text(value, lookup) for key, value in extra.items()})
    if matrix.items is not None:
        combos.extend(_item_rows(matrix, lookup))
    if len(combos) > MAX_COMBINATIONS:
        raise SubstitutionError(
            f"matrix has {len(combos)} combinations, over the limit of {MAX_COMBINATIONS}"
        )
    return combos


_ITEM = re.compile(r"\$\(item((?:\.[^()\s.]+)*)\)")


def _item_text(value: object) -> str:
    """An item (or field) as Argo writes it into an argument: strings as they are, else JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _item_rows(matrix: Matrix, lookup: Lookup) -> list[dict[str, str]]:
    """One combination per item of the run-time list `matrix.items`."""
    assert matrix.items is not None
    refs = list(iter_references(matrix.items))
    whole = len(refs) == 1 and refs[0].text == matrix.items.strip()
    # an array param or result as it is; else the text (JSON) the reference gives
    found = lookup(refs[0].path) if whole and refs[0].index is None else None
    if lookups.START in matrix.items:  # `{{=...}}`: its value is the list's JSON text
        resolved: ParamValue = lookups.text(matrix.items, lookup)
    else:
        resolved = found if isinstance(found, list) else substitute_value(matrix.items, lookup)
    items: object = resolved
    if isinstance(resolved, str):
        try:
            items = json.loads(resolved)
        except ValueError:
            items = None
    if not isinstance(items, list):
        raise SubstitutionError(f"loop items {matrix.items!r} are not a JSON list: {resolved!r}")
    rows: list[dict[str, str]] = []
    for item in items:

        def field(m: re.Match[str], item: object = item) -> str:
            return _item_field(item, m)

        params = {name: _fill(text, field, lookup) for name, text in matrix.item_params.items()}
        rows.append(ItemRow(params, item))
    return rows


def _item_field(item: object, m: re.Match[str]) -> str:
    """The text of `$(item.a.b)` (group 1: `.a.b`) for `item`."""
    value = item
    for key in m.group(1).split(".")[1:]:
        if not isinstance(value, dict) or key not in value:
            raise SubstitutionError(f"loop item {_item_text(item)} has no field {key!r}")
        value = value[key]
    return _item_text(value)


def _fill(text: str, field: Callable[[re.Match[str]], str], lookup: Lookup) -> str:
    """`text` with the item in place of each `$(item...)`; inside an expression (`{{=item}}`)
    the item is a string literal, as Argo's expressions see it, and the expression is evaluated."""
    if lookups.START not in text:  # the other references first: an item's text stays as is
        return _ITEM.sub(field, lookups.text(text, lookup))
    from foredeck.pipeline.exprlang.embed import literal, split

    parts: list[str] = []
    for part in split(text):
        if isinstance(part, str):
            parts.append(_ITEM.sub(field, part))
        else:
            parts.append(_ITEM.sub(lambda m: literal(field(m)), text[part.start : part.end]))
    return lookups.text("".join(parts), lookup)


def _holds(whens: list[WhenExpression], lookup: Lookup) -> bool:
    """Whether every guard of an include entry is true (Tekton drops the entry otherwise)."""
    for when in whens:
        value = substitute(when.input, lookup)
        allowed = substitute_list(when.values, lookup)
        if (value in allowed) != (when.operator == "in"):
            return False
    return True


def item_guard(
    whens: list[WhenExpression], combo: dict[str, str], lookup: Lookup
) -> tuple[TaskStatus, str] | None:
    """(status, reason) of an instance the task's per-item guards stop (`$(params.p)` is the
    instance's value of `p`, `$(item.key)` a field of its item: Skipped, or Failed when one
    cannot be resolved), else None."""

    def instance(path: str) -> ParamValue | None:
        root, _, name = path.partition(".")
        if root == "params" and name in combo:
            return combo[name]
        return lookup(path)

    def own_item(text: str) -> str:
        if not isinstance(combo, ItemRow):
            return text
        return _ITEM.sub(lambda m: _item_field(combo.item, m), text)

    for when in whens:
        try:
            value = substitute(own_item(when.input), instance)
            allowed = substitute_list([own_item(v) for v in when.values], instance)
        except SubstitutionError as exc:
            return "Failed", str(exc)
        if (value in allowed) != (when.operator == "in"):
            return "Skipped", f"when: {value!r} {when.operator} {allowed!r} is false"
    return None
