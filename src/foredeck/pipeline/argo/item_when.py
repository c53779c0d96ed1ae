"""A looped call's `when` over `{{item}}`: guards evaluated per iteration.

Argo evaluates a looped step's `when` once per item (an item that fails it is a Skipped
iteration). In the IR the guard is `PipelineTask.item_when`, evaluated by the executor for each
matrix instance against its combination. An item is named through the argument that is
exactly `{{item}}` (or `{{item.key}}`): the guard reads that param, `$(params.p)`, so the
emitter can write it back as the item. An item (or field) no argument passes as it is, as
`{{item.evenness}}` of Argo's parameter-aggregation examples, is read from the item itself,
`$(item.evenness)`: the loop then keeps its items whole (`loops.reads_item_fields`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import replace

from foredeck.pipeline.argo.state import Scope
from foredeck.pipeline.argo.when import guards
from foredeck.pipeline.expressions import references
from foredeck.pipeline.model import ParamSpec, WhenExpression
from foredeck.pipeline.predicates import Predicate
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap

LOOPS = ("withItems", "withParam", "withSequence")
_ITEM_TAG = re.compile(r"\{\{\s*(item(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")
_MARK = "foredeck-item-"
_FIELD = "foredeck-item-field-"


def _exactly_passed(args: Mapping[str, tuple[str, Source]]) -> dict[str, str]:
    """Each `item` / `item.key` an argument passes exactly -> that argument."""
    exact: dict[str, str] = {}
    for arg, (value, _) in args.items():
        m = _ITEM_TAG.fullmatch(value.strip())
        if m:
            exact.setdefault(m.group(1), arg)
    return exact


def reads_item_fields(call: SourceMap, args: Mapping[str, tuple[str, Source]]) -> bool:
    """Whether a looped call's `when` reads an item (or field) that no argument is exactly."""
    text = call.get("when")
    if not isinstance(text, str):
        return False
    exact = _exactly_passed(args)
    return any(m.group(1) not in exact for m in _ITEM_TAG.finditer(text))


def item_guards(
    call: SourceMap,
    scope: Scope,
    params: Mapping[str, ParamSpec],
    args: Mapping[str, tuple[str, Source]],
    where: str,
) -> tuple[list[WhenExpression], list[WhenExpression], list[Predicate]]:
    """(the call's guards, its per-item guards, the status tests of tasks it waits for)."""
    text = call.get("when")
    if not isinstance(text, str) or not _ITEM_TAG.search(text) or not any(k in call for k in LOOPS):
        own, waits = guards(call, scope, params, where)
        return own, [], waits
    exact = _exactly_passed(args)
    fields: dict[str, str] = {}  # "item.key" no argument passes -> its marker input

    def mark(m: re.Match[str]) -> str:
        if m.group(1) in exact:
            return "{{inputs.parameters." + _MARK + exact[m.group(1)] + "}}"
        marker = fields.setdefault(m.group(1), f"{_FIELD}{len(fields)}")
        return "{{inputs.parameters." + marker + "}}"

    marked = copy.copy(call)
    marked["when"] = _ITEM_TAG.sub(mark, text)
    inputs = {**scope.inputs, **{_MARK + p: f"$(params.{p})" for p in exact.values()}}
    inputs |= {marker: f"$({path})" for path, marker in fields.items()}
    own, waits = guards(marked, replace(scope, inputs=inputs), params, where)
    item_paths = {f"params.{p}" for p in exact.values()}

    def per_item_ref(path: str) -> bool:
        return path in item_paths or path == "item" or path.startswith("item.")

    per_item = [
        g for g in own if any(per_item_ref(r.path) for r in references([g.input, *g.values]))
    ]
    return [g for g in own if g not in per_item], per_item, waits
