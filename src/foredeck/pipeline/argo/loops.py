"""Argo loops (`withItems`, `withParam`) as IR matrices.

One looping argument becomes a matrix param; several become `include` rows (one per item).
`withParam` over literal JSON is unrolled here; over a parameter or a task output it becomes the
`[*]` expression of an array, which turns that param or result into an array in the IR.
"""

from __future__ import annotations

import json
import re
from typing import Any

from foredeck.pipeline.argo.fields import as_list, as_map, at, check_keys, fail, scalar, unsupported
from foredeck.pipeline.argo.item_when import reads_item_fields
from foredeck.pipeline.argo.state import Scope, Workflow
from foredeck.pipeline.argo.tags import call_text
from foredeck.pipeline.model import Matrix
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap

_ITEM_TAG = re.compile(r"\{\{\s*(?:=[^}]*?\b)?item\b")
"""`{{item...}}`, or an expression `{{=...}}` that reads the item."""


def loop(
    w: Workflow,
    call: SourceMap,
    args: dict[str, tuple[str, Source]],
    scope: Scope,
    where: str,
) -> Matrix | None:
    """The matrix of a looping call (`withItems` / `withParam`), or None when it does not loop."""
    looping = {a: v for a, v in args.items() if _ITEM_TAG.search(v[0])}
    keys = [k for k in ("withItems", "withParam", "withSequence") if k in call]
    if len(keys) > 1:
        raise fail(at(call, keys[1]), f"{where}: use one of withItems, withParam, withSequence")
    if not keys:
        for arg, (_, source) in looping.items():
            raise fail(source, f"{where}: argument {arg!r} uses {{{{item}}}} without a loop")
        return None
    key = keys[0]
    whole_items = reads_item_fields(call, looping)  # `when` reads the items themselves
    if not looping and not whole_items and key == "withParam" and "{{" in str(call[key]):
        why = "withParam from a run-time value but no argument uses {{item}}"
        raise fail(at(call, key), f"{where}: {why}")
    if key == "withParam":
        items = _with_param(w, call, looping, scope, where, whole_items)
        if isinstance(items, Matrix):
            return items
    elif key == "withSequence":
        swhere = f"{where} withSequence"
        runtime = runtime_sequence(call["withSequence"], at(call, key), scope, w, swhere)
        if runtime is not None:
            return Matrix(items=runtime, item_params=_item_params(w, looping, scope, where))
        items = sequence(call["withSequence"], at(call, key), swhere)
    else:
        items = as_list(call["withItems"], at(call, "withItems"), f"{where} withItems")
    if whole_items:  # each instance keeps its item, for its guards to read
        return Matrix(items=json.dumps(items), item_params=_item_params(w, looping, scope, where))
    rows: list[dict[str, str]] = []
    for item in items:
        if isinstance(item, dict):
            item_map = {str(k): scalar(v, at(call, key), f"{where} {key}") for k, v in item.items()}
        elif isinstance(item, list) or item is None:
            raise fail(at(call, key), f"{where}: {key} items must be scalars or mappings")
        else:
            item_map = {"": scalar(item, at(call, key), f"{where} {key}")}
        row = {}
        for arg, (value, source) in looping.items():
            field_where = f"{where} argument {arg!r}"
            row[arg] = call_text(value, scope, w.params, source, field_where, item=item_map)
        rows.append(row)
    if not looping:  # the template runs once per item, the same each time
        return Matrix(include=rows)
    if len(looping) == 1:
        arg = next(iter(looping))
        return Matrix(params={arg: [row[arg] for row in rows]})
    return Matrix(include=rows)


def looped_names(matrix: Matrix | None) -> set[str]:
    """The params a loop's matrix binds (the rest of a call's arguments are plain)."""
    if matrix is None:
        return set()
    return {*matrix.params, *(k for row in matrix.include for k in row), *matrix.item_params}


def _with_param(
    w: Workflow,
    call: SourceMap,
    looping: dict[str, tuple[str, Source]],
    scope: Scope,
    where: str,
    whole_items: bool = False,
) -> list[Any] | Matrix:
    """Literal JSON -> its items. A parameter or a task's result read by one argument that is
    exactly `{{item}}` -> a matrix over the `[*]` expression of an array (Tekton's form);
    any other value known at run time -> a matrix over its JSON list (`Matrix.items`)."""
    raw = call["withParam"]
    source = at(call, "withParam")
    if not isinstance(raw, str):
        raise fail(source, f"{where}: withParam must be a string")
    if "{{" not in raw:
        return _literal_items(raw, source, where)
    text = call_text(raw, scope, w.params, source, f"{where} withParam")
    if "$(" not in text:  # an expression of literals, evaluated at load time
        return _literal_items(text, source, where)
    expression = text.strip().startswith("$(=")  # `{{=...}}`: a JSON list at run time
    if not expression and not re.fullmatch(r"\$\([^()\s]+\)", text):
        message = f"{where}: withParam must be one parameter or task output, got {raw!r}"
        raise fail(source, message)
    whole = len(looping) == 1 and all(
        re.fullmatch(r"\s*\{\{\s*item\s*\}\}\s*", value) for value, _ in looping.values()
    )
    m = re.fullmatch(r"\$\((params\.[^.()\s]+|tasks\.[^.()\s]+\.results\.[^.()\s]+)\)", text)
    whole = whole and not whole_items
    if not expression and whole and _runtime_json(w, text):
        return Matrix(params={next(iter(looping)): text})  # JSON text parsed at run time
    if whole and m and _typed(w, m.group(1)):
        _make_array(w, m.group(1), source, where)
        return Matrix(params={next(iter(looping)): f"$({m.group(1)}[*])"})
    return Matrix(items=text, item_params=_item_params(w, looping, scope, where))


def _item_params(
    w: Workflow, looping: dict[str, tuple[str, Source]], scope: Scope, where: str
) -> dict[str, str]:
    """The looping arguments as texts over `$(item...)`, filled from each item at run time."""
    return {
        arg: call_text(value, scope, w.params, vsource, f"{where} argument {arg!r}", _RUNTIME)
        for arg, (value, vsource) in looping.items()
    }


class _RuntimeItem(dict[str, str]):
    """An item known at run time: `{{item}}` / `{{item.k}}` become `$(item)` / `$(item.k)`,
    which the executor fills from each item of the list (`execute/matrix.py`)."""

    def __init__(self) -> None:
        super().__init__({"": "$(item)"})

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return "$(item)" if key == "" else f"$(item.{key})"


_RUNTIME = _RuntimeItem()


def _typed(w: Workflow, path: str) -> bool:
    """Whether `path` is a workflow param or a leaf task's result (which can become arrays)."""
    parts = path.split(".")
    if parts[0] == "params":
        return parts[1] in w.params and parts[1] not in w.graph_inputs
    task = next((t for t in [*w.tasks, *w.finally_tasks] if t.name == parts[1]), None)
    return task is not None and task.task_ref is not None


def _literal_items(text: str, source: Source, where: str) -> list[Any]:
    try:
        items = json.loads(text)
    except ValueError:
        raise fail(source, f"{where}: withParam is neither JSON nor a {{{{...}}}}") from None
    if not isinstance(items, list):
        raise fail(source, f"{where}: withParam must be a JSON array")
    return items


def _runtime_json(w: Workflow, text: str) -> bool:
    """Whether `text` is a value known only as JSON text: a looped task's aggregate
    (`$(tasks.T.results.R.json)`), a sub-graph call's output, or a sub-graph's param."""
    param = re.fullmatch(r"\$\(params\.([^.()\s\[\]]+)\)", text)
    if param is not None:
        return param.group(1) in w.graph_inputs
    m = re.fullmatch(r"\$\(tasks\.([^.()\s]+)\.results\.[^.()\s]+(\.json)?\)", text)
    if m is None:
        return False
    producer = next((t for t in [*w.tasks, *w.finally_tasks] if t.name == m.group(1)), None)
    return m.group(2) is not None or (producer is not None and producer.graph_ref is not None)


def _make_array(w: Workflow, path: str, source: Source, where: str) -> None:
    """withParam reads JSON text: in the IR that is an array param / result."""
    parts = path.split(".")
    if parts[0] == "params":
        param = w.params[parts[1]]
        if param.type != "array" and param.default is not None:
            assert isinstance(param.default, str)
            try:
                value = json.loads(param.default)
            except ValueError:
                value = None
            if not isinstance(value, list) or any(isinstance(v, dict | list) for v in value):
                message = f"{where}: parameter {param.name!r} must be a JSON array of scalars"
                raise fail(source, message) from None
            param.default = [scalar(v, source, where) for v in value]
        param.type = "array"
        return
    task = next(t for t in [*w.tasks, *w.finally_tasks] if t.name == parts[1])
    spec = w.library[str(task.task_ref)]
    for result in spec.results:
        if result.name == parts[3]:
            result.type = "array"


_ONE_REF = re.compile(r"\$\((?!=)[^()\s]+\)")


def runtime_sequence(raw: Any, source: Source, scope: Scope, w: Workflow, where: str) -> str | None:
    """A `withSequence` whose numbers are known only at run time (`end: "{{steps.a.outputs.
    result}}"`) as an IR expression giving the JSON list of its items (`Matrix.items`); None
    when every number is written out (`sequence` expands it now). Argo counts down when
    end < start, and `count: 0` gives no items."""
    spec = as_map(raw, source, where)
    check_keys(spec, {"count", "start", "end", "format"}, set(), where)
    texts = {k: scalar(spec[k], at(spec, k), where) for k in ("count", "start", "end") if k in spec}
    if not any("{{" in text for text in texts.values()):
        return None
    if scalar(spec.get("format", "%d"), at(spec, "format"), where) != "%d":
        why = "with numbers known only at run time (only the default %d)"
        raise unsupported(spec, "format", where, why)
    if ("count" in texts) == ("end" in texts):
        raise fail(source, f"{where}: needs either `count` or `end`")
    numbers: dict[str, str] = {}
    for key, text in texts.items():
        value = call_text(text, scope, w.params, at(spec, key), f"{where} {key}").strip()
        if _ONE_REF.fullmatch(value):
            numbers[key] = f"asInt({value})"
        elif re.fullmatch(r"-?\d+", value):
            numbers[key] = value
        else:
            message = f"{where}: {key} must be an integer or one value known at run time"
            raise fail(at(spec, key), f"{message}, not {text!r}")
    start = numbers.get("start", "0")
    if "count" in numbers:
        items = f"map(0..({numbers['count']} - 1), string({start} + #))"
    else:
        end = numbers["end"]
        down = f"map(0..({start} - {end}), string({start} - #))"
        items = f"({start} <= {end} ? map({start}..{end}, string(#)) : {down})"
    return f"$(=toJson({items}))"


MAX_SEQUENCE = 10_000
"""More items than this is taken for a mistake (each one is a task)."""


def sequence(raw: Any, source: Source, where: str) -> list[str]:
    """Argo's `withSequence`: `count` (from `start`, default 0) or `start`..`end` inclusive
    (counting down when end < start), each number formatted by `format` (printf, default %d)."""
    spec = as_map(raw, source, where)
    check_keys(spec, {"count", "start", "end", "format"}, set(), where)
    numbers: dict[str, int] = {}
    for key in ("count", "start", "end"):
        if key in spec:
            text = scalar(spec[key], at(spec, key), where)
            if "{{" in text:
                why = "a value known only at run time (write the number)"
                raise unsupported(spec, key, where, why)
            try:
                numbers[key] = int(text)
            except ValueError:
                raise fail(
                    at(spec, key), f"{where}: {key} must be an integer, not {text!r}"
                ) from None
    if ("count" in numbers) == ("end" in numbers):
        raise fail(source, f"{where}: needs either `count` or `end`")
    start = numbers.get("start", 0)
    if "count" in numbers:
        values = list(range(start, start + max(numbers["count"], 0)))
    else:
        step = 1 if numbers["end"] >= start else -1
        values = list(range(start, numbers["end"] + step, step))
    if len(values) > MAX_SEQUENCE:
        raise fail(source, f"{where}: {len(values)} items, over the limit of {MAX_SEQUENCE}")
    fmt = scalar(spec.get("format", "%d"), at(spec, "format"), where)
    verbs = re.findall(r"%[-+ #0]*\d*([a-zA-Z%])", fmt)
    if [v for v in verbs if v != "%"] not in (["d"], ["x"], ["X"], ["o"]):
        raise fail(at(spec, "format"), f"{where}: format needs one integer verb, not {fmt!r}")
    return [fmt % value for value in values]
