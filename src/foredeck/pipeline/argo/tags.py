"""Argo's `{{...}}` tags translated into the IR's `$(...)` expressions.

Two scopes resolve tags differently (docs/argo-tekton.md, "Expressions"): a value written in a
dag/steps template (arguments, `when`, outputs) is resolved here by `call_ref`, against the inputs
of the template being inlined and the nodes created so far; a container/script body is resolved
by the leaf builder (`leaf.py`), where workflow values become implicit task params.
`outputs.result` and `exitCode` of a leaf call are the stdout and exit-code results its spec
declares (`leaf.py`). What the IR cannot hold yet is refused here.

An expression tag `{{=EXPR}}` is checked here (syntax, unknown functions: a load-time error
naming the field) and becomes the IR's `$(= ...)`: each variable of EXPR is resolved by the same
scope as a simple tag, to an IR reference or, for a value known now, a string literal. An
expression of literals only (`{{=item * 2}}` in a loop; no clock, no random) is evaluated here,
its value is text.
The evaluator is imported on the first expression, so workflows without any do not load it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

from foredeck.pipeline import workflow_vars
from foredeck.pipeline.argo.fields import fail
from foredeck.pipeline.argo.metadata import pick
from foredeck.pipeline.argo.state import Node, Scope
from foredeck.pipeline.artifacts import artifact_of, locator_name
from foredeck.pipeline.exprlang.embed import START, literal
from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.model import ParamSpec
from foredeck.types import Source

TAG = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_ANY_TAG = re.compile(r"\{\{\s*((?s:=.*?)|.*?)\s*\}\}")  # an expression may span lines
_ONE_REF = re.compile(r"\$\(\s*[A-Za-z_][^()\s]*?\s*\)")


NODE_FACTS = ("ip", "startedAt", "finishedAt", "hostNodeName")
"""`{{steps.X.<fact>}}` of a node that ran: a daemon's address, its times, the host it ran on."""
METRICS_ONLY = (
    "only a template's `metrics` read it: Argo sets it when it emits the node's metrics"
    " (kept as written for a cluster; a host run emits none)"
)
"""Why `{{resourcesDuration.<resource>}}` (Argo's estimate of a node's CPU and memory use, in
seconds) resolves nowhere else."""
RUNNING = "Running"
"""`{{workflow.status}}` outside the exit handler: the workflow is running."""


class Unresolvable(Exception):
    """A tag the current scope cannot resolve; becomes a PipelineError naming the field."""


def translate(text: str, resolve: Callable[[str], str], source: Source, where: str) -> str:
    """Replace every `{{...}}` in `text` with its IR expression; unknown tags are errors."""

    def repl(m: re.Match[str]) -> str:
        path = m.group(1)
        if path.startswith("="):
            return expression(path[1:], resolve, source, where)
        try:
            return resolve(path)
        except Unresolvable as exc:
            raise fail(source, f"{where}: {{{{{path}}}}}: {exc}") from None

    return _ANY_TAG.sub(repl, text)


def _one_expression(value: str) -> str | None:
    """The expr-lang of `value` when it is exactly one IR expression `$(= ...)`, else None."""
    from foredeck.pipeline.exprlang.embed import Embedded, split

    if not value.startswith(START):
        return None
    parts = split(value)
    return parts[0].expr if len(parts) == 1 and isinstance(parts[0], Embedded) else None


def expression(text: str, resolve: Callable[[str], str], source: Source, where: str) -> str:
    """`{{=text}}` as the IR's `$(= ...)`; syntax errors and unknown functions fail here."""
    from foredeck.pipeline.exprlang.api import check, compile_expr, evaluate, go_format, is_constant
    from foredeck.pipeline.exprlang.chains import to_ir

    shown = " ".join(text.split())
    problems = check(text)
    if problems:  # every unknown function of the tag, not only the first
        reasons = "; ".join(problem.describe(text) for problem in problems)
        raise fail(source, f"{where}: {{{{={shown}}}}}: {reasons}")
    tree = compile_expr(text)

    def variable(parts: tuple[str, ...]) -> tuple[str, int]:
        first: Unresolvable | None = None
        for used in range(len(parts), 0, -1):
            try:
                value = resolve(".".join(parts[:used]))
            except Unresolvable as exc:
                first = first or exc
                continue
            if _ONE_REF.fullmatch(value.strip()):
                return value.strip(), used
            inner = _one_expression(value.strip())
            if inner is not None and first is None and parts[used - 1] == "json":
                # a JSON text the IR computes (`workflow.parameters.json`): inlined
                return f"({inner})", used
            if "$(" in value:
                if first is not None:  # a longer path failed: its reason, not this prefix's
                    break
                why = f"{'.'.join(parts)} mixes text and references ({value!r})"
                raise Unresolvable(why)
            return literal(value), used
        raise Unresolvable(f"{'.'.join(parts)}: {first}")

    try:
        ir = to_ir(text, tree, variable)
    except Unresolvable as exc:
        raise fail(source, f"{where}: {{{{={shown}}}}}: {exc}") from None
    if not is_constant(compile_expr(ir, refs=True)):
        return f"{START}{ir})"
    # Nothing left to know at run time (literals, `{{item}}` of a loop): the value is known now.
    try:
        value = evaluate(ir, refs=True)
    except ExprError as exc:
        raise fail(source, f"{where}: {{{{={shown}}}}}: {exc.message}") from None
    if value is None:
        raise fail(source, f"{where}: {{{{={shown}}}}}: the expression gives nil")
    return go_format(value)


def workflow_ref(
    parts: list[str],
    params: Mapping[str, ParamSpec],
    exported: Mapping[str, str] | None = None,
    known: Mapping[str, str] | None = None,
    starting: bool = False,
) -> str:
    """`{{workflow....}}` as the IR expression a dag/steps template sees; `starting`: for a
    node the workflow's first reconcile creates (`metadata.pick`)."""
    if len(parts) < 2:
        raise Unresolvable("`workflow` alone is not a value")
    found = None if known is None else pick(known, ".".join(parts[1:]), starting)
    if found is not None:
        return found
    if parts[1] == "outputs" and len(parts) == 4 and parts[2] in ("parameters", "artifacts"):
        key = f"{parts[2]}.{parts[3]}"
        if exported is None or key not in exported:
            raise Unresolvable(f"no task before this point exports {key!r} (globalName)")
        return exported[key]
    if parts[1:] in (["parameters"], ["parameters", "json"]) and "json" not in params:
        # Argo: the workflow's parameters as JSON (`[{"name":"a","value":"1"}]`), at run time
        # (`workflow.parameters` alone is the older name of the same)
        items = ", ".join(  # an artifact's locator param is not Argo's
            f'{{"name": {literal(p)}, "value": $(params.{p})}}'
            for p in params
            if artifact_of(p) is None
        )
        return f"{START}toJson([{items}]))"
    if parts[1] == "parameters" and len(parts) == 3:
        if parts[2] not in params:
            raise Unresolvable(f"no workflow parameter {parts[2]!r} in spec.arguments")
        return f"$(params.{parts[2]})"
    simple = {
        "name": "$(context.pipelineRun.name)",
        "namespace": "$(context.pipelineRun.namespace)",
        "uid": "$(context.pipelineRun.uid)",
        "status": "$(tasks.status)",
    }
    if len(parts) == 2 and parts[1] in simple:
        return simple[parts[1]]
    found = workflow_vars.ir_ref(".".join(parts[1:]))
    if found is not None:
        return found
    if parts[1] in ("labels", "annotations") and parts[2:] in ([], ["json"]):
        why = f"all the workflow's {parts[1]} as JSON: one of its values is not plain text"
        raise Unresolvable(why)
    raise Unresolvable("not supported")


def call_text(
    text: str,
    scope: Scope,
    params: Mapping[str, ParamSpec],
    source: Source,
    where: str,
    item: dict[str, str] | None = None,
) -> str:
    """Translate a value written in a dag/steps template (arguments, when, outputs)."""
    return translate(text, lambda path: call_ref(path, scope, params, item), source, where)


def call_ref(
    path: str, scope: Scope, params: Mapping[str, ParamSpec], item: dict[str, str] | None
) -> str:
    parts = path.split(".")
    if parts[0] == "item":
        return _item_ref(parts, item)
    if parts[:2] == ["inputs", "parameters"] and len(parts) == 3:
        if parts[2] not in scope.inputs:
            raise Unresolvable(f"no input parameter {parts[2]!r}")
        return scope.inputs[parts[2]]
    if parts[:2] == ["inputs", "artifacts"] and len(parts) == 3:
        if locator_name(parts[2]) not in scope.inputs:
            raise Unresolvable(f"no input artifact {parts[2]!r}")
        return scope.inputs[locator_name(parts[2])]
    if parts[0] == "workflow":
        if parts[1:] == ["status"] and not scope.finally_:
            return RUNNING  # what Argo's controller gives a node while the workflow runs
        return workflow_ref(parts, params, scope.exported, scope.known, scope.starting)
    if parts == [scope.kind, "name"] and scope.current is not None:
        return scope.current  # Argo: the name of the step/task being run
    if parts[0] in ("tasks", "steps") and len(parts) >= 3:
        return _node_ref(parts, scope)
    if parts[0] == "resourcesDuration":
        raise Unresolvable(METRICS_ONLY)
    raise Unresolvable("not supported here")


def node_id(task: str) -> str:
    """A node's id in Argo's form, `<workflow>-<FNV-1a 32 of the node name>` (Argo hashes
    `<workflow>.<path>`; the workflow's name is known only at run time, so this hashes the
    flattened task name: stable, unique within the run)."""
    digest = 0x811C9DC5
    for byte in task.encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"$(context.pipelineRun.name)-{digest}"


def _item_ref(parts: list[str], item: dict[str, str] | None) -> str:
    if item is None:
        raise Unresolvable("{{item}} is only defined in withItems / withParam arguments")
    if len(parts) == 1:
        if set(item) == {""}:
            return item[""]
        return json.dumps(item, separators=(",", ":"), sort_keys=True)  # Go's json.Marshal
    key = ".".join(parts[1:])
    if key not in item:
        raise Unresolvable(f"the loop item has no key {key!r}")
    return item[key]


def _node_ref(parts: list[str], scope: Scope) -> str:
    """`{{tasks.A....}}` / `{{steps.A....}}`: the status or an output of a node that has run."""
    if parts[0] != scope.kind:
        raise Unresolvable(f"`{parts[0]}.` is not defined in a {scope.kind} template")
    node = scope.nodes.get(parts[1])
    if node is None:
        raise Unresolvable(f"{parts[1]!r} has not run yet at this point (or does not exist)")
    if parts[2:] == ["status"]:
        if node.task is None:
            raise Unresolvable("the status of a nested dag/steps call")
        if not scope.finally_:  # the node's Argo phase, known once it ran (`lookups.py`)
            return f"$(tasks.{node.task}.phase)"
        return f"$(tasks.{node.task}.status)"
    if parts[2:] == ["id"]:
        if node.task is None or node.looped:
            raise Unresolvable("the id of a nested dag/steps call or of a loop")
        return node_id(node.task)
    if len(parts) == 3 and parts[2] in NODE_FACTS:  # the node's own facts (`lookups.py`)
        if node.task is None or node.looped:
            raise Unresolvable(f"the {parts[2]} of a nested dag/steps call or of a loop")
        return f"$(tasks.{node.task}.{parts[2]})"
    if parts[2:4] == ["outputs", "artifacts"] and len(parts) == 5:
        if locator_name(parts[4]) not in node.outputs:
            raise Unresolvable(f"{parts[1]!r} has no output artifact {parts[4]!r}")
        if node.looped:
            raise Unresolvable("an output artifact of a looped task")
        return node.outputs[locator_name(parts[4])]
    if parts[2:] == ["outputs", "parameters"] and node.looped:
        return _loop_parameters(node)
    if parts[2] == "outputs" and len(parts) == 5 and parts[3] == "parameters":
        if parts[4] not in node.outputs:
            raise Unresolvable(f"{parts[1]!r} has no output parameter {parts[4]!r}")
        if node.looped:  # the JSON list of every iteration's value (`execute/lookups.py`)
            return f"{node.outputs[parts[4]][:-1]}.json)"
        return node.outputs[parts[4]]
    implicit = {("outputs", "result"): node.stdout, ("exitCode",): node.exit_code}
    implicit[("outputs", "exitCode")] = node.exit_code
    if tuple(parts[2:]) in implicit:
        value = implicit[tuple(parts[2:])]
        if value is None and node.task is not None:  # a leaf without stdout: a resource
            raise Unresolvable(f"{'.'.join(parts[2:])}: a resource template gives none, as in Argo")
        if value is None:
            raise Unresolvable(f"{'.'.join(parts[2:])} of a nested dag/steps call")
        if node.looped and parts[2:] == ["outputs", "result"]:
            return f"{value[:-1]}.values)"  # each item's result, JSON-parsed, as a JSON list
        if node.looped:
            raise Unresolvable(f"{'.'.join(parts[2:])} of a looped task (an aggregated list)")
        return value
    raise Unresolvable("not supported here")


def _loop_parameters(node: Node) -> str:
    """A loop's `outputs.parameters`: Argo's JSON list of each iteration's
    `{"<param>": "<value>", ...}`, zipped from the per-parameter lists."""
    names = sorted(n for n in node.outputs if artifact_of(n) is None)
    if not names:
        raise Unresolvable("the looped task declares no output parameters")
    lists = {n: f"fromJSON({node.outputs[n][:-1]}.json))" for n in names}
    fields = ", ".join(f"{literal(n)}: {lists[n]}[#]" for n in names)
    return f"{START}toJson(map(0..len({lists[names[0]]}) - 1, {{({{{fields}}})}})))"
