"""Argo Workflows front end: `Workflow`, `WorkflowTemplate` and `CronWorkflow` into the IR.

Argo nests templates (a DAG task may call a steps template that calls a DAG ...); the IR is one
flat DAG. Nested dag/steps templates are therefore inlined: their tasks are named
`<caller>-<task>`, their roots run after the caller's dependencies and the caller's dependents run
after their leaves. Container, script and containerSet templates become `TaskSpec`s in the task
library, one per template, so a template that many tasks call is one spec.

Argo's `{{...}}` tags are translated into the IR's `$(...)` (see `docs/argo-tekton.md`). An Argo
output parameter read from a file (`valueFrom.path`) becomes a task result; since IR steps write
results to `$(results.R.path)`, the task gets one more step, `argo-outputs`, that copies each file
there (trimming one trailing newline, as Argo does). The emitters recognise that step and turn it
back into `valueFrom.path` (Argo) or share the files through an `emptyDir` (Tekton).

Whatever the IR cannot express is refused with a `PipelineError` naming the field and its
`file:line`; nothing is silently dropped except fields that only steer Kubernetes scheduling
(`_IGNORED_*` below, listed in the docs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from foredeck.pipeline.durations import parse_duration as _go_duration
from foredeck.pipeline.model import (
    Matrix,
    ParamSpec,
    ParamValue,
    Pipeline,
    PipelineResult,
    PipelineTask,
    ResultSpec,
    Step,
    TaskSpec,
    WhenExpression,
    WhenOperator,
    WorkspaceDecl,
)
from foredeck.types import UNKNOWN, PipelineError, Source
from foredeck.yamlsrc import Document, SourceMap

ARGO_API = "argoproj.io/v1alpha1"
COLLECT_STEP = "argo-outputs"
COLLECT_IMAGE = "busybox:1.36"
RESULTS_DIR = "/foredeck/results"
RESULTS_VOLUME = "foredeck-results"
WORKSPACE_ROOT = "/workspace"
SCRIPT_MARKER = "foredeck-script"
# Runs a script given as `$1` the way the IR does: by its shebang, else with `sh`. Used for the
# steps of multi-step tasks, which Argo runs as a containerSet (containers have no `source`).
SCRIPT_WRAPPER = (
    'f=`mktemp` && printf "%s" "$1" > "$f" && chmod +x "$f" && '
    'case "$1" in \'#!\'*) exec "$f" ;; *) exec sh "$f" ;; esac'
)

_TAG = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_NAME = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_.]*$")

_IGNORED_SPEC = {
    "serviceAccountName", "automountServiceAccountToken", "nodeSelector", "tolerations",
    "affinity", "securityContext", "imagePullSecrets", "podMetadata", "workflowMetadata",
    "podGC", "ttlStrategy", "archiveLogs", "priority", "podPriorityClassName", "schedulerName",
    "dnsPolicy", "dnsConfig", "hostAliases", "hostNetwork", "executor", "volumeClaimGC",
    "podDisruptionBudget", "metrics", "artifactGC", "parallelism", "shutdown", "podResources",
}  # fmt: skip
_IGNORED_TEMPLATE = {
    "metadata", "nodeSelector", "tolerations", "affinity", "serviceAccountName",
    "automountServiceAccountToken", "priorityClassName", "schedulerName", "securityContext",
    "parallelism", "podResources", "metrics", "annotations", "hostAliases",
}  # fmt: skip
_IGNORED_CONTAINER = {
    "resources", "imagePullPolicy", "securityContext", "terminationMessagePath",
    "terminationMessagePolicy", "resizePolicy",
}  # fmt: skip
_IGNORED_CRON = {
    "schedule", "schedules", "timezone", "concurrencyPolicy", "startingDeadlineSeconds",
    "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "suspend", "workflowMetadata",
    "stopStrategy", "when",
}  # fmt: skip


def _at(m: Any, key: str) -> Source:
    return m.at(key) if isinstance(m, SourceMap) else _src(m)


def _src(m: Any) -> Source:
    return m.source if isinstance(m, SourceMap) else UNKNOWN


def _fail(source: Source, message: str) -> PipelineError:
    return PipelineError(source, message)


def _unsupported(m: Any, key: str, where: str, why: str = "") -> PipelineError:
    reason = why or "the pipeline IR cannot express it"
    return _fail(_at(m, key), f"{where}: `{key}` is not supported ({reason})")


def _check_keys(m: SourceMap, allowed: set[str], ignored: set[str], where: str) -> None:
    for key in m:
        if key not in allowed and key not in ignored:
            raise _unsupported(m, key, where)


def _map(value: Any, source: Source, where: str) -> SourceMap:
    if not isinstance(value, dict):
        raise _fail(source, f"{where}: expected a mapping")
    if not isinstance(value, SourceMap):
        wrapped = SourceMap(value)
        wrapped.source = source
        wrapped.key_sources = {}
        return wrapped
    return value


def _list(value: Any, source: Source, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(source, f"{where}: expected a list")
    return value


def _scalar(value: Any, source: Source, where: str) -> str:
    """Argo values are strings, but YAML lets users write numbers and booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise _fail(source, f"{where}: expected a string")


def _name(m: SourceMap, where: str) -> str:
    name = m.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(_at(m, "name"), f"{where}: `name` is required")
    if not _NAME.match(name):
        raise _fail(_at(m, "name"), f"{where}: invalid name {name!r}")
    return name


def _int(value: Any, source: Source, where: str) -> int:
    if isinstance(value, bool):
        raise _fail(source, f"{where}: expected an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise _fail(source, f"{where}: expected an integer, got {value!r}")
    if number < 0:
        raise _fail(source, f"{where}: must not be negative")
    return number


def _deadline(value: Any, source: Source, where: str) -> float:
    seconds = _int(value, source, where)
    if seconds == 0:
        raise _fail(source, f"{where}: must be a positive number of seconds")
    return float(seconds)


def _duration(value: Any, source: Source, where: str) -> float:
    """Argo's `timeout`: a Go duration (`1h30m`, `90s`) or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().isdigit():
        return float(value.strip())
    try:
        return _go_duration(value)
    except ValueError as exc:
        raise _fail(source, f"{where}: {exc}") from None


def sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------------------------------------
# The `argo-outputs` collector step, shared with the emitters.


@dataclass(frozen=True)
class CollectedOutput:
    """An Argo output parameter read from a file: `path` is copied into result `result`."""

    result: str
    path: str
    default: str | None = None


_COLLECT_HEAD = "set -e\nnl='\n'\n"


def _collect_block(out: CollectedOutput) -> str:
    read = f"v=`cat -- {sh_quote(out.path)} && printf x`"
    if out.default is not None:
        fallback = f"v={sh_quote(out.default + 'x')}"
        read = f"if [ -e {sh_quote(out.path)} ]; then {read}; else {fallback}; fi"
    return (
        f'{read}\nv=${{v%x}}; v=${{v%"$nl"}}; printf \'%s\' "$v" > "$(results.{out.result}.path)"\n'
    )


def collector_script(outputs: list[CollectedOutput]) -> str:
    return _COLLECT_HEAD + "".join(_collect_block(out) for out in outputs)


def collector_step(outputs: list[CollectedOutput], source: Source = UNKNOWN) -> Step:
    return Step(COLLECT_STEP, COLLECT_IMAGE, script=collector_script(outputs), source=source)


_QUOTED = r"'(?:[^']|'\\'')*'"
_COLLECT_LINE = re.compile(
    rf"(?:if \[ -e (?P<p1>{_QUOTED}) \]; then )?v=`cat -- (?P<path>{_QUOTED}) && printf x`"
    rf"(?:; else v=(?P<default>{_QUOTED}); fi)?\n"
    r"v=\$\{v%x\}; v=\$\{v%\"\$nl\"\}; printf '%s' \"\$v\" > "
    r"\"\$\(results\.(?P<name>[^.]+)\.path\)\"\n"
)


def _unquote(text: str) -> str:
    return text[1:-1].replace("'\\''", "'")


def parse_collector(step: Step) -> list[CollectedOutput] | None:
    """The outputs of a step generated by `collector_step`, or None for any other step."""
    if (
        step.name != COLLECT_STEP
        or step.script is None
        or not step.script.startswith(_COLLECT_HEAD)
    ):
        return None
    outputs: list[CollectedOutput] = []
    for m in _COLLECT_LINE.finditer(step.script, len(_COLLECT_HEAD)):
        default = _unquote(m.group("default")) if m.group("default") else None
        if default is not None:
            if not default.endswith("x"):
                return None
            default = default[:-1]
        outputs.append(CollectedOutput(m.group("name"), _unquote(m.group("path")), default))
    if not outputs or collector_script(outputs) != step.script:
        return None
    return outputs


# ---------------------------------------------------------------------------------------------
# Scripts: Argo runs `command... <file with source>`; the IR runs a script by its shebang.


def shebang_command(script: str) -> list[str]:
    """The Argo `script.command` that runs `script` the way the IR does."""
    if not script.startswith("#!"):
        return ["sh"]
    words = script[2:].split("\n", 1)[0].split()
    if len(words) >= 2 and words[0] == "/usr/bin/env":
        words = words[1:]
        if words[0] == "-S":
            words = words[1:]
    return words or ["sh"]


def _script_from_argo(command: list[str], source: str) -> str:
    if source.startswith("#!") or command in (["sh"], ["/bin/sh"]):
        return source
    if command[0].startswith("/"):
        line = " ".join(command)
    else:
        line = "/usr/bin/env " + ("-S " if len(command) > 1 else "") + " ".join(command)
    return f"#!{line}\n{source}"


# ---------------------------------------------------------------------------------------------
# `when`: Argo's govaluate expressions, the forms that map onto IR `in` / `notin`.


@dataclass
class _Atom:
    ref: str  # the Argo tag, without braces
    operator: str  # "in" | "notin"
    values: list[str]


_WHEN_TOKEN = re.compile(
    r"""\s*(?:(?P<tag>\{\{.*?\}\})|(?P<str>"[^"]*"|'[^']*')"""
    r"""|(?P<op>&&|\|\||==|!=|=~|!~|<=|>=|<|>|\(|\)|!|,)|(?P<word>[^\s()!=<>&|,"']+))"""
)


class _WhenSyntax(Exception):
    pass


class _WhenParser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        self.spans: list[tuple[int, int]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _WHEN_TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _WhenSyntax(f"cannot parse near {text[pos:]!r}")
            kind = m.lastgroup or "word"
            self.tokens.append((kind, m.group(kind)))
            self.spans.append(m.span(kind))
            pos = m.end()
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise _WhenSyntax(f"expected {value or 'more'}")
        self.pos += 1
        return token

    def parse(self) -> list[_Atom]:
        atoms = self.expr()
        rest = self.peek()
        if rest is not None:
            raise _WhenSyntax(f"unexpected {rest[1]!r}")
        return atoms

    def expr(self) -> list[_Atom]:
        first = self.term()
        while self.peek() == ("op", "||"):
            self.take()
            other = self.term()
            if (
                len(first) != 1
                or len(other) != 1
                or first[0].operator != "in"
                or other[0].operator != "in"
                or first[0].ref != other[0].ref
            ):
                raise _WhenSyntax("`||` is only supported between `==` tests of one value")
            first = [_Atom(first[0].ref, "in", [*first[0].values, *other[0].values])]
        return first

    def term(self) -> list[_Atom]:
        atoms = self.factor()
        while self.peek() == ("op", "&&"):
            self.take()
            atoms = [*atoms, *self.factor()]
        return atoms

    def factor(self) -> list[_Atom]:
        token = self.peek()
        if token == ("op", "("):
            self.take()
            inner = self.expr()
            self.take(")")
            return inner
        if token == ("op", "!"):
            self.take()
            self.take("(")
            inner = self.expr()
            self.take(")")
            if len(inner) != 1:
                raise _WhenSyntax("`!` is only supported around one test")
            flipped = "notin" if inner[0].operator == "in" else "in"
            return [_Atom(inner[0].ref, flipped, inner[0].values)]
        return [self.comparison()]

    def operand(self) -> tuple[str | None, str]:
        kind, text = self.take()
        glued = (
            self.pos < len(self.tokens) and self.spans[self.pos][0] == self.spans[self.pos - 1][1]
        )
        if kind == "tag" and glued and self.tokens[self.pos][0] in ("word", "tag", "str"):
            raise _WhenSyntax(f"text mixed with a {{{{...}}}} tag near {text!r}")
        tag = _TAG.fullmatch(text)
        if kind == "tag" and tag is not None:
            return tag.group(1), text
        if kind == "str":
            inner = text[1:-1]
            m = _TAG.fullmatch(inner)
            if m:
                return m.group(1), inner
            if "{{" in inner:
                raise _WhenSyntax(f"text mixed with a {{{{...}}}} tag in {text}")
            return None, inner
        if kind == "word":
            if "{{" in text:
                raise _WhenSyntax(f"text mixed with a {{{{...}}}} tag in {text!r}")
            return None, text
        raise _WhenSyntax(f"unexpected {text!r}")

    def comparison(self) -> _Atom:
        left_ref, left = self.operand()
        kind, op = self.take()
        if op == "in" and kind == "word":
            self.take("(")
            values = [self.literal()]
            while self.peek() == ("op", ","):
                self.take()
                values.append(self.literal())
            self.take(")")
            if left_ref is None:
                raise _WhenSyntax("`in` needs a {{...}} tag on its left")
            return _Atom(left_ref, "in", values)
        if op not in ("==", "!="):
            raise _WhenSyntax(f"operator {op!r} is not supported (only ==, !=, in, &&, ||, !)")
        right_ref, right = self.operand()
        if (left_ref is None) == (right_ref is None):
            raise _WhenSyntax("each test must compare one {{...}} tag with one literal value")
        ref = left_ref if left_ref is not None else right_ref
        value = right if left_ref is not None else left
        return _Atom(ref or "", "in" if op == "==" else "notin", [value])

    def literal(self) -> str:
        ref, text = self.operand()
        if ref is not None:
            raise _WhenSyntax("`in (...)` takes literal values")
        return text


# Argo node phases as Tekton `$(tasks.X.status)` / `$(tasks.status)` values.
_TASK_PHASE = {"Succeeded": ["Succeeded"], "Failed": ["Failed"], "Error": ["Failed"]}
_TASK_PHASE |= {"Skipped": ["None"], "Omitted": ["None"]}
_WORKFLOW_PHASE = {"Succeeded": ["Succeeded", "Completed"], "Failed": ["Failed"]}
_WORKFLOW_PHASE |= {"Error": ["Failed"]}


# ---------------------------------------------------------------------------------------------
# The converter.


class _Bad(Exception):
    """A tag the current scope cannot resolve; becomes a PipelineError naming the field."""


@dataclass
class _Node:
    """What a DAG task / step of the template being expanded became in the IR."""

    task: str | None  # the IR task, for a leaf
    leaves: list[str]
    outputs: dict[str, str]
    whens: list[WhenExpression]
    looped: bool = False


@dataclass
class _Scope:
    """The dag/steps template being expanded: its inputs and the nodes created so far."""

    kind: str  # "tasks" (dag) or "steps"
    inputs: dict[str, str]
    nodes: dict[str, _Node] = field(default_factory=dict)
    finally_: bool = False


@dataclass
class _Leaf:
    """A container/script/containerSet template converted once into a library spec."""

    key: str
    spec: TaskSpec
    retries: int
    timeout: float | None
    bindings: dict[str, str]  # implicit task param -> call-site value
    outputs: set[str]
    workspaces: dict[str, str]  # task workspace -> pipeline workspace (volume)


@dataclass
class _Collection:
    """The templates of one document; `prefix` keeps spec names unique across documents."""

    templates: dict[str, SourceMap]
    prefix: str
    source: Source


class _Converter:
    def __init__(self, spec: SourceMap, main: _Collection, wfts: dict[str, _Collection]) -> None:
        self.spec = spec
        self.main = main
        self.wfts = wfts
        self.params: dict[str, ParamSpec] = {}
        self.workspaces: dict[str, WorkspaceDecl] = {}
        self.library: dict[str, TaskSpec] = {}
        self.leaves: dict[tuple[int, str], _Leaf] = {}
        self.tasks: list[PipelineTask] = []
        self.finally_tasks: list[PipelineTask] = []
        self.names: set[str] = set()
        self.default_retries = 0
        self.depth = 0

    # -- workflow level -------------------------------------------------------------------------

    def convert(self, name: str, source: Source) -> Pipeline:
        spec = self.spec
        allowed = {"entrypoint", "templates", "arguments", "onExit", "activeDeadlineSeconds"}
        allowed |= {"volumeClaimTemplates", "volumes", "retryStrategy"}
        _check_keys(spec, allowed, _IGNORED_SPEC, "spec")
        self._workflow_params()
        self._workflow_volumes()
        if "retryStrategy" in spec:
            self.default_retries = self._retries(spec["retryStrategy"], _at(spec, "retryStrategy"))
        entry_name = spec.get("entrypoint")
        if not isinstance(entry_name, str) or not entry_name:
            raise _fail(_at(spec, "entrypoint"), "spec: `entrypoint` is required")
        entry = self._template(self.main, entry_name, _at(spec, "entrypoint"), "spec.entrypoint")
        results = self._entrypoint(entry)
        if "onExit" in spec:
            self._exit_handler(spec)
        timeout = None
        if "activeDeadlineSeconds" in spec:
            seconds = spec["activeDeadlineSeconds"]
            source = _at(spec, "activeDeadlineSeconds")
            timeout = _deadline(seconds, source, "spec.activeDeadlineSeconds")
        return Pipeline(
            name=name,
            tasks=self.tasks,
            finally_tasks=self.finally_tasks,
            params=list(self.params.values()),
            workspaces=list(self.workspaces.values()),
            results=results,
            task_library=self.library,
            timeout=timeout,
            source=source,
        )

    def _workflow_params(self) -> None:
        arguments = _map(self.spec.get("arguments") or {}, _at(self.spec, "arguments"), "spec")
        _check_keys(arguments, {"parameters"}, set(), "spec.arguments")
        where = "spec.arguments.parameters"
        for raw in _list(arguments.get("parameters"), _at(arguments, "parameters"), where):
            param = self._param_spec(raw, _at(arguments, "parameters"), where)
            if param.name in self.params:
                raise _fail(param.source, f"{where}: duplicate parameter {param.name!r}")
            self.params[param.name] = param

    def _param_spec(self, raw: Any, source: Source, where: str) -> ParamSpec:
        p = _map(raw, source, where)
        _check_keys(p, {"name", "value", "default", "description", "enum"}, set(), where)
        name = _name(p, where)
        default: str | None = None
        for key in ("default", "value"):  # a passed value wins over both (Argo's rule)
            if p.get(key) is not None:
                default = _scalar(p[key], _at(p, key), f"{where} {name!r}")
        description = p.get("description")
        return ParamSpec(
            name,
            default=default,
            description=description if isinstance(description, str) else "",
            source=_src(p),
        )

    def _workflow_volumes(self) -> None:
        spec = self.spec
        for key in ("volumeClaimTemplates", "volumes"):
            for raw in _list(spec.get(key), _at(spec, key), f"spec.{key}"):
                volume = _map(raw, _at(spec, key), f"spec.{key}")
                if key == "volumeClaimTemplates":
                    meta = _map(volume.get("metadata") or {}, _src(volume), "volumeClaimTemplate")
                    name = _name(meta, f"spec.{key}[].metadata")
                else:
                    name = _name(volume, f"spec.{key}")
                    kinds = set(volume) - {"name"}
                    if not kinds <= {"emptyDir", "persistentVolumeClaim"}:
                        bad = sorted(kinds - {"emptyDir", "persistentVolumeClaim"})[0]
                        raise _unsupported(volume, bad, f"spec.volumes {name!r}")
                self.workspaces[name] = WorkspaceDecl(name, source=_src(volume))

    def _entrypoint(self, entry: SourceMap) -> list[PipelineResult]:
        entry_name = str(entry["name"])
        inputs: dict[str, str] = {}
        for param in self._inputs(entry, f"template {entry_name!r}"):
            if param.name not in self.params:
                self.params[param.name] = param
            inputs[param.name] = f"$(params.{param.name})"
        kind = self._kind(entry)
        if kind in ("dag", "steps"):
            scope = _Scope("tasks" if kind == "dag" else "steps", inputs)
            node = self._group(entry, scope_prefix="", scope=scope, deps=[], whens=[])
            results = [
                PipelineResult(name, value, source=_src(entry))
                for name, value in node.outputs.items()
            ]
            return results
        leaf = self._leaf(self.main, entry)
        args = {p: v for p, v in inputs.items() if p in {s.name for s in leaf.spec.params}}
        task = self._leaf_task(entry_name, leaf, args, [], [], None, _src(entry), False)
        self.tasks.append(task)
        return [
            PipelineResult(r, f"$(tasks.{task.name}.results.{r})", source=_src(entry))
            for r in sorted(leaf.outputs)
        ]

    def _exit_handler(self, spec: SourceMap) -> None:
        name = spec["onExit"]
        if not isinstance(name, str):
            raise _fail(_at(spec, "onExit"), "spec.onExit: expected a template name")
        template = self._template(self.main, name, _at(spec, "onExit"), "spec.onExit")
        inputs: dict[str, str] = {}
        for param in self._inputs(template, f"template {name!r}"):
            if not isinstance(param.default, str):
                message = f"exit handler template {name!r}: input {param.name!r} needs a default"
                raise _fail(param.source, message)
            inputs[param.name] = param.default
        kind = self._kind(template)
        if kind in ("dag", "steps"):
            scope = _Scope("tasks" if kind == "dag" else "steps", inputs, finally_=True)
            self._group(template, scope_prefix="", scope=scope, deps=[], whens=[])
            return
        leaf = self._leaf(self.main, template)
        task = self._leaf_task(name, leaf, {}, [], [], None, _at(spec, "onExit"), True)
        self.finally_tasks.append(task)

    # -- templates ------------------------------------------------------------------------------

    def _template(self, coll: _Collection, name: str, source: Source, where: str) -> SourceMap:
        if name not in coll.templates:
            raise _fail(source, f"{where}: no template named {name!r}")
        return coll.templates[name]

    def _kind(self, template: SourceMap) -> str:
        kinds = [
            k for k in ("container", "script", "containerSet", "dag", "steps") if k in template
        ]
        other = [k for k in ("resource", "suspend", "http", "plugin", "data") if k in template]
        name = template.get("name")
        if other:
            raise _unsupported(template, other[0], f"template {name!r}", f"`{other[0]}` templates")
        if len(kinds) != 1:
            message = f"template {name!r}: needs exactly one of container, script, dag, steps"
            raise _fail(_src(template), message)
        return kinds[0]

    def _inputs(self, template: SourceMap, where: str) -> list[ParamSpec]:
        inputs = _map(template.get("inputs") or {}, _at(template, "inputs"), where)
        _check_keys(inputs, {"parameters"}, set(), f"{where} inputs")
        params = [
            self._param_spec(raw, _at(inputs, "parameters"), f"{where} inputs.parameters")
            for raw in _list(inputs.get("parameters"), _at(inputs, "parameters"), where)
        ]
        if len({p.name for p in params}) != len(params):
            raise _fail(_at(inputs, "parameters"), f"{where}: duplicate input parameter")
        return params

    def _retries(self, raw: Any, source: Source) -> int:
        strategy = _map(raw, source, "retryStrategy")
        allowed = {"limit", "retryPolicy", "backoff", "affinity"}
        _check_keys(strategy, allowed, set(), "retryStrategy")
        policy = strategy.get("retryPolicy", "OnFailure")
        if policy not in ("OnFailure", "Always"):
            why = "the IR retries failed tasks only (OnFailure / Always)"
            raise _unsupported(strategy, "retryPolicy", "retryStrategy", why)
        if "limit" not in strategy:
            raise _fail(_src(strategy), "retryStrategy: `limit` is required (unbounded retries)")
        return _int(strategy["limit"], _at(strategy, "limit"), "retryStrategy.limit")

    def _leaf(self, coll: _Collection, template: SourceMap, key: str | None = None) -> _Leaf:
        cache_key = (id(coll), key or str(template.get("name")))
        if cache_key not in self.leaves:
            self.leaves[cache_key] = _LeafBuilder(self, coll, template, key).build()
        return self.leaves[cache_key]

    def spec_key(self, base: str) -> str:
        key, n = base, 1
        while key in self.library:
            n += 1
            key = f"{base}-{n}"
        return key

    # -- dag and steps ----------------------------------------------------------------------------

    def _group(
        self,
        template: SourceMap,
        scope_prefix: str,
        scope: _Scope,
        deps: list[str],
        whens: list[WhenExpression],
        coll: _Collection | None = None,
    ) -> _Node:
        """Inline a dag/steps template: returns its leaves and outputs for the caller."""
        coll = coll or self.main
        self.depth += 1
        if self.depth > 20:
            raise _fail(_src(template), "templates nest deeper than 20 levels (recursion?)")
        name = str(template.get("name"))
        where = f"template {name!r}"
        allowed = {"name", "inputs", "outputs", "dag", "steps", "failFast"}
        _check_keys(template, allowed, _IGNORED_TEMPLATE, where)
        if template.get("failFast", True) is not True:
            raise _unsupported(template, "failFast", where, "the IR always stops on failure")
        leaves: list[str]
        if "dag" in template:
            dag = _map(template["dag"], _at(template, "dag"), where)
            _check_keys(dag, {"tasks", "failFast"}, {"parallelism"}, f"{where} dag")
            if dag.get("failFast", True) is not True:
                raise _unsupported(dag, "failFast", f"{where} dag", "the IR stops on failure")
            items = _list(dag.get("tasks"), _at(dag, "tasks"), f"{where} dag.tasks")
            leaves = self._dag(items, scope_prefix, scope, deps, whens, coll, where)
        else:
            groups = _list(template["steps"], _at(template, "steps"), f"{where} steps")
            leaves = self._steps(groups, scope_prefix, scope, deps, whens, coll, where, template)
        outputs = self._group_outputs(template, scope, where)
        self.depth -= 1
        return _Node(None, leaves, outputs, list(whens))

    def _group_outputs(self, template: SourceMap, scope: _Scope, where: str) -> dict[str, str]:
        raw = _map(template.get("outputs") or {}, _at(template, "outputs"), where)
        _check_keys(raw, {"parameters"}, set(), f"{where} outputs")
        outputs: dict[str, str] = {}
        for item in _list(raw.get("parameters"), _at(raw, "parameters"), where):
            p = _map(item, _at(raw, "parameters"), f"{where} outputs.parameters")
            _check_keys(p, {"name", "valueFrom", "description"}, set(), f"{where} outputs")
            pname = _name(p, f"{where} outputs.parameters")
            value_from = _map(p.get("valueFrom"), _at(p, "valueFrom"), f"{where} output {pname!r}")
            _check_keys(value_from, {"parameter"}, set(), f"{where} output {pname!r} valueFrom")
            text = value_from.get("parameter")
            if not isinstance(text, str):
                raise _fail(
                    _src(value_from), f"{where} output {pname!r}: needs valueFrom.parameter"
                )
            field_where = f"{where} output {pname!r} valueFrom.parameter"
            outputs[pname] = self.call_text(text, scope, _at(value_from, "parameter"), field_where)
        return outputs

    def _dag(
        self,
        items: list[Any],
        prefix: str,
        scope: _Scope,
        deps: list[str],
        whens: list[WhenExpression],
        coll: _Collection,
        where: str,
    ) -> list[str]:
        tasks: dict[str, SourceMap] = {}
        needs: dict[str, list[tuple[str, bool]]] = {}
        for raw in items:
            task = _map(raw, _src(raw), f"{where} dag.tasks")
            tname = _name(task, f"{where} dag task")
            if tname in tasks:
                raise _fail(_at(task, "name"), f"{where}: duplicate task name {tname!r}")
            tasks[tname] = task
            needs[tname] = self._dependencies(task, f"{where} task {tname!r}")
        for tname, task in tasks.items():
            for dep, _ in needs[tname]:
                if dep not in tasks:
                    raise _fail(_src(task), f"{where} task {tname!r}: unknown dependency {dep!r}")
        order = _toposort({t: [d for d, _ in needs[t]] for t in tasks}, where, _src(items))
        depended = {d for t in tasks for d, _ in needs[t]}
        leaves: list[str] = []
        for tname in order:
            task = tasks[tname]
            task_deps = list(deps) if not needs[tname] else []
            task_whens = list(whens)
            for dep, succeeded in needs[tname]:
                node = scope.nodes[dep]
                task_deps.extend(node.leaves)
                if succeeded:
                    task_whens.extend(w for w in node.whens if w not in task_whens)
            node = self._call(task, tname, prefix, scope, task_deps, task_whens, coll, where)
            scope.nodes[tname] = node
            if tname not in depended:
                leaves.extend(node.leaves)
        return leaves

    def _dependencies(self, task: SourceMap, where: str) -> list[tuple[str, bool]]:
        """(dependency, needs-success) pairs from `dependencies` or `depends`."""
        if "dependencies" in task and "depends" in task:
            raise _fail(_at(task, "depends"), f"{where}: use either `dependencies` or `depends`")
        if "dependencies" in task:
            raw = _list(task["dependencies"], _at(task, "dependencies"), where)
            return [(_scalar(d, _at(task, "dependencies"), where), False) for d in raw]
        if "depends" not in task:
            return []
        text = task["depends"]
        if not isinstance(text, str):
            raise _fail(_at(task, "depends"), f"{where}: `depends` must be a string")
        out: list[tuple[str, bool]] = []
        # A conjunction is associative: parentheses in one only group, so they can go.
        conjunction = text if "||" in text else text.replace("(", " ").replace(")", " ")
        for part in conjunction.split("&&"):
            item = part.strip()
            m = re.fullmatch(r"([A-Za-z0-9_][-A-Za-z0-9_]*)(?:\.(Succeeded))?", item)
            if not m:
                why = (
                    f"`depends: {text}`: only `A`, `A.Succeeded` and `&&` are supported; "
                    "running after a failure (`.Failed`, `.Errored`, `.Completed`, `||`, `!`) "
                    "cannot be expressed in the IR, where a failed task stops the pipeline"
                )
                raise _fail(_at(task, "depends"), f"{where}: {why}")
            out.append((m.group(1), m.group(2) is not None))
        return out

    def _steps(
        self,
        groups: list[Any],
        prefix: str,
        scope: _Scope,
        deps: list[str],
        whens: list[WhenExpression],
        coll: _Collection,
        where: str,
        template: SourceMap,
    ) -> list[str]:
        previous = list(deps)
        for raw_group in groups:
            group = _list(raw_group, _at(template, "steps"), f"{where} steps (a list of lists)")
            current: list[str] = []
            pending: dict[str, _Node] = {}
            for raw in group:
                step = _map(raw, _at(template, "steps"), f"{where} step")
                sname = _name(step, f"{where} step")
                for key in ("dependencies", "depends"):
                    if key in step:
                        raise _unsupported(
                            step, key, f"{where} step {sname!r}", "steps run in order"
                        )
                if sname in scope.nodes or sname in pending:
                    raise _fail(_at(step, "name"), f"{where}: duplicate step name {sname!r}")
                node = self._call(step, sname, prefix, scope, previous, list(whens), coll, where)
                pending[sname] = node
                current.extend(node.leaves)
            scope.nodes.update(pending)  # parallel steps cannot see each other's outputs
            previous = current or previous
        return previous

    # -- one DAG task or step ---------------------------------------------------------------------

    def _call(
        self,
        call: SourceMap,
        name: str,
        prefix: str,
        scope: _Scope,
        deps: list[str],
        whens: list[WhenExpression],
        coll: _Collection,
        where: str,
    ) -> _Node:
        where = f"{where} {'task' if scope.kind == 'tasks' else 'step'} {name!r}"
        allowed = {"name", "template", "templateRef", "inline", "arguments", "when"}
        allowed |= {"withItems", "withParam", "dependencies", "depends"}
        _check_keys(call, allowed, set(), where)
        ir_name = prefix + name
        target_coll, template, key = self._resolve_template(call, coll, ir_name, where)
        own_whens, waits = self._when(call, scope, where)
        when_list = whens + [w for w in own_whens if w not in whens]
        deps = [*deps, *waits]
        args = self._arguments(call, where)
        kind = self._kind(template)
        if kind in ("dag", "steps"):
            if "withItems" in call or "withParam" in call:
                key_name = "withItems" if "withItems" in call else "withParam"
                why = "loops over dag/steps templates; loop inside the template instead"
                raise _unsupported(call, key_name, where, why)
            inputs = self._group_inputs(template, args, scope, where)
            inner = _Scope("tasks" if kind == "dag" else "steps", inputs, finally_=scope.finally_)
            return self._group(template, f"{ir_name}-", inner, deps, when_list, target_coll)
        leaf = self._leaf(target_coll, template, key)
        declared = {p.name: p for p in leaf.spec.params}
        for arg in args:
            if arg not in declared or arg in leaf.bindings:
                message = f"{where}: argument {arg!r} is not an input of template {leaf.key!r}"
                raise _fail(args[arg][1], message)
        matrix = self._loop(call, args, scope, where)
        looped = (
            set(matrix.params) | {k for row in matrix.include for k in row} if matrix else set()
        )
        bound: dict[str, ParamValue] = {}
        for pname, (value, source) in args.items():
            if pname not in looped:
                bound[pname] = self.call_text(value, scope, source, f"{where} argument {pname!r}")
        for p in leaf.spec.params:
            missing = p.name not in bound and p.name not in leaf.bindings and p.default is None
            if missing and p.name not in looped:
                message = f"{where}: input {p.name!r} of template {leaf.key!r} has no value"
                raise _fail(_src(call), message)
        task = self._leaf_task(ir_name, leaf, bound, deps, when_list, matrix, _src(call), False)
        if scope.finally_:
            if task.run_after:
                why = "an exit handler with ordered steps: IR finally tasks all run in parallel"
                raise _fail(_src(call), f"{where}: {why}")
            self.finally_tasks.append(task)
        else:
            self.tasks.append(task)
        outputs = {o: f"$(tasks.{ir_name}.results.{o})" for o in leaf.outputs}
        return _Node(ir_name, [ir_name], outputs, when_list, looped=matrix is not None)

    def _resolve_template(
        self, call: SourceMap, coll: _Collection, ir_name: str, where: str
    ) -> tuple[_Collection, SourceMap, str | None]:
        given = [k for k in ("template", "templateRef", "inline") if k in call]
        if len(given) != 1:
            raise _fail(_src(call), f"{where}: needs exactly one of template, templateRef, inline")
        if "template" in call:
            name = _scalar(call["template"], _at(call, "template"), where)
            return coll, self._template(coll, name, _at(call, "template"), where), None
        if "inline" in call:
            inline = _map(call["inline"], _at(call, "inline"), where)
            inline.setdefault("name", ir_name)
            return coll, inline, f"inline:{ir_name}"
        ref = _map(call["templateRef"], _at(call, "templateRef"), where)
        _check_keys(ref, {"name", "template", "clusterScope"}, set(), f"{where} templateRef")
        wft = ref.get("name")
        if wft not in self.wfts:
            message = f"{where}: templateRef names WorkflowTemplate {wft!r}, not among the inputs"
            raise _fail(_at(ref, "name"), message)
        target = self.wfts[str(wft)]
        tname = _scalar(ref.get("template"), _at(ref, "template"), f"{where} templateRef")
        return target, self._template(target, tname, _at(ref, "template"), where), None

    def _arguments(self, call: SourceMap, where: str) -> dict[str, tuple[str, Source]]:
        raw = _map(call.get("arguments") or {}, _at(call, "arguments"), where)
        _check_keys(raw, {"parameters"}, set(), f"{where} arguments")
        args: dict[str, tuple[str, Source]] = {}
        for item in _list(raw.get("parameters"), _at(raw, "parameters"), where):
            p = _map(item, _at(raw, "parameters"), f"{where} arguments")
            _check_keys(p, {"name", "value", "description"}, set(), f"{where} argument")
            pname = _name(p, f"{where} argument")
            if "value" not in p:
                raise _fail(_src(p), f"{where}: argument {pname!r} needs a `value`")
            args[pname] = (_scalar(p["value"], _at(p, "value"), where), _at(p, "value"))
        return args

    def _group_inputs(
        self,
        template: SourceMap,
        args: dict[str, tuple[str, Source]],
        scope: _Scope,
        where: str,
    ) -> dict[str, str]:
        inputs: dict[str, str] = {}
        declared = self._inputs(template, f"template {template.get('name')!r}")
        names = {p.name for p in declared}
        for arg, (_, source) in args.items():
            if arg not in names:
                raise _fail(source, f"{where}: argument {arg!r} is not an input of the template")
        for p in declared:
            if p.name in args:
                value, source = args[p.name]
                inputs[p.name] = self.call_text(
                    value, scope, source, f"{where} argument {p.name!r}"
                )
            elif isinstance(p.default, str):
                inputs[p.name] = p.default
            else:
                raise _fail(_src(template), f"{where}: input {p.name!r} has no value")
        return inputs

    def _leaf_task(
        self,
        name: str,
        leaf: _Leaf,
        params: Mapping[str, ParamValue],
        deps: list[str],
        whens: list[WhenExpression],
        matrix: Matrix | None,
        source: Source,
        finally_: bool,
    ) -> PipelineTask:
        if name in self.names:
            raise _fail(source, f"two tasks would both be named {name!r} in the flattened DAG")
        self.names.add(name)
        bound: dict[str, ParamValue] = dict(params)
        for pname, value in leaf.bindings.items():
            if value == "$(tasks.status)" and not finally_:
                why = "{{workflow.status}} is only known in the exit handler (onExit)"
                raise _fail(source, f"task {name!r}: {why}")
            bound[pname] = value
        return PipelineTask(
            name=name,
            task_ref=leaf.key,
            params=bound,
            run_after=sorted(set(deps)),
            when=whens,
            retries=leaf.retries,
            timeout=leaf.timeout,
            matrix=matrix,
            workspaces=dict(leaf.workspaces),
            source=source,
        )

    # -- loops ----------------------------------------------------------------------------------

    def _loop(
        self,
        call: SourceMap,
        args: dict[str, tuple[str, Source]],
        scope: _Scope,
        where: str,
    ) -> Matrix | None:
        looping = {a: v for a, v in args.items() if re.search(r"\{\{\s*item\b", v[0])}
        if "withItems" in call and "withParam" in call:
            raise _fail(_at(call, "withParam"), f"{where}: use either withItems or withParam")
        if "withSequence" in call:
            raise _unsupported(call, "withSequence", where, "use withItems")
        if "withItems" not in call and "withParam" not in call:
            for arg, (_, source) in looping.items():
                raise _fail(source, f"{where}: argument {arg!r} uses {{{{item}}}} without a loop")
            return None
        key = "withItems" if "withItems" in call else "withParam"
        if not looping:
            raise _fail(_at(call, key), f"{where}: {key} but no argument uses {{{{item}}}}")
        if key == "withParam":
            items = self._with_param(call, looping, scope, where)
            if isinstance(items, str):
                return Matrix(params={next(iter(looping)): items})
        else:
            items = _list(call["withItems"], _at(call, "withItems"), f"{where} withItems")
        rows: list[dict[str, str]] = []
        for item in items:
            if isinstance(item, dict):
                item_map = {
                    str(k): _scalar(v, _at(call, key), f"{where} {key}") for k, v in item.items()
                }
            elif isinstance(item, list) or item is None:
                raise _fail(_at(call, key), f"{where}: {key} items must be scalars or mappings")
            else:
                item_map = {"": _scalar(item, _at(call, key), f"{where} {key}")}
            row = {}
            for arg, (value, source) in looping.items():
                field_where = f"{where} argument {arg!r}"
                row[arg] = self.call_text(value, scope, source, field_where, item=item_map)
            rows.append(row)
        if len(looping) == 1:
            arg = next(iter(looping))
            return Matrix(params={arg: [row[arg] for row in rows]})
        return Matrix(include=rows)

    def _with_param(
        self,
        call: SourceMap,
        looping: dict[str, tuple[str, Source]],
        scope: _Scope,
        where: str,
    ) -> list[Any] | str:
        """Literal JSON -> its items; a reference -> the `[*]` expression of an array."""
        raw = call["withParam"]
        source = _at(call, "withParam")
        if not isinstance(raw, str):
            raise _fail(source, f"{where}: withParam must be a string")
        if "{{" not in raw:
            try:
                items = json.loads(raw)
            except ValueError:
                raise _fail(
                    source, f"{where}: withParam is neither JSON nor a {{{{...}}}}"
                ) from None
            if not isinstance(items, list):
                raise _fail(source, f"{where}: withParam must be a JSON array")
            return items
        for arg, (value, vsource) in looping.items():
            if not re.fullmatch(r"\s*\{\{\s*item\s*\}\}\s*", value) or len(looping) > 1:
                why = "with withParam, one argument may be exactly {{item}} (no item.key)"
                raise _fail(vsource, f"{where}: argument {arg!r}: {why}")
        text = self.call_text(raw, scope, source, f"{where} withParam")
        m = re.fullmatch(r"\$\((params\.[^.()\s]+|tasks\.[^.()\s]+\.results\.[^.()\s]+)\)", text)
        if not m:
            message = f"{where}: withParam must be one parameter or task output, got {raw!r}"
            raise _fail(source, message)
        self._make_array(m.group(1), source, where)
        return f"$({m.group(1)}[*])"

    def _make_array(self, path: str, source: Source, where: str) -> None:
        """withParam reads JSON text: in the IR that is an array param / result."""
        parts = path.split(".")
        if parts[0] == "params":
            param = self.params[parts[1]]
            if param.type != "array" and param.default is not None:
                assert isinstance(param.default, str)
                try:
                    value = json.loads(param.default)
                except ValueError:
                    value = None
                if not isinstance(value, list) or any(isinstance(v, dict | list) for v in value):
                    message = f"{where}: parameter {param.name!r} must be a JSON array of scalars"
                    raise _fail(source, message) from None
                param.default = [_scalar(v, source, where) for v in value]
            param.type = "array"
            return
        task = next(t for t in [*self.tasks, *self.finally_tasks] if t.name == parts[1])
        spec = self.library[str(task.task_ref)]
        for result in spec.results:
            if result.name == parts[3]:
                result.type = "array"

    # -- expressions ----------------------------------------------------------------------------

    def call_text(
        self,
        text: str,
        scope: _Scope,
        source: Source,
        where: str,
        item: dict[str, str] | None = None,
    ) -> str:
        """Translate a value written in a dag/steps template (arguments, when, outputs)."""
        return translate(text, lambda path: self._call_ref(path, scope, item), source, where)

    def _call_ref(self, path: str, scope: _Scope, item: dict[str, str] | None) -> str:
        parts = path.split(".")
        if parts[0] == "item":
            if item is None:
                raise _Bad("{{item}} is only defined in withItems / withParam arguments")
            if len(parts) == 1:
                return item[""] if set(item) == {""} else json.dumps(item, sort_keys=True)
            key = ".".join(parts[1:])
            if key not in item:
                raise _Bad(f"the loop item has no key {key!r}")
            return item[key]
        if parts[:2] == ["inputs", "parameters"] and len(parts) == 3:
            if parts[2] not in scope.inputs:
                raise _Bad(f"no input parameter {parts[2]!r}")
            return scope.inputs[parts[2]]
        if parts[0] == "workflow":
            if parts[1:] == ["status"] and not scope.finally_:
                raise _Bad("{{workflow.status}} is only known in the exit handler (onExit)")
            return self._workflow_ref(parts)
        if parts[0] in ("tasks", "steps") and len(parts) >= 3:
            if parts[0] != scope.kind:
                raise _Bad(f"`{parts[0]}.` is not defined in a {scope.kind} template")
            node = scope.nodes.get(parts[1])
            if node is None:
                raise _Bad(f"{parts[1]!r} has not run yet at this point (or does not exist)")
            if parts[2:] == ["status"]:
                if node.task is None:
                    raise _Bad("the status of a nested dag/steps call")
                return f"$(tasks.{node.task}.status)"
            if parts[2] == "outputs" and len(parts) == 5 and parts[3] == "parameters":
                if node.looped:
                    raise _Bad("outputs of a looped task (an aggregated list)")
                if parts[4] not in node.outputs:
                    raise _Bad(f"{parts[1]!r} has no output parameter {parts[4]!r}")
                return node.outputs[parts[4]]
            if parts[2:] == ["outputs", "result"]:
                why = "write the value to a file and declare outputs.parameters with valueFrom.path"
                raise _Bad(f"outputs.result (stdout) is not supported: {why}")
        raise _Bad("not supported here")

    def _workflow_ref(self, parts: list[str]) -> str:
        if parts[1] == "parameters" and len(parts) == 3:
            if parts[2] not in self.params:
                raise _Bad(f"no workflow parameter {parts[2]!r} in spec.arguments")
            return f"$(params.{parts[2]})"
        simple = {
            "name": "$(context.pipelineRun.name)",
            "namespace": "$(context.pipelineRun.namespace)",
            "uid": "$(context.pipelineRun.uid)",
            "status": "$(tasks.status)",
        }
        if len(parts) == 2 and parts[1] in simple:
            return simple[parts[1]]
        raise _Bad("not supported")

    def _when(
        self, call: SourceMap, scope: _Scope, where: str
    ) -> tuple[list[WhenExpression], list[str]]:
        """The task's guards, plus the tasks a `{{tasks.A.status}} == Succeeded` test waits for."""
        if "when" not in call:
            return [], []
        text = call["when"]
        source = _at(call, "when")
        if not isinstance(text, str):
            raise _fail(source, f"{where}: `when` must be a string")
        try:
            atoms = _WhenParser(text).parse()
        except _WhenSyntax as exc:
            message = f"{where}: `when: {text}`: {exc}; supported: `{{{{x}}}} == v`, `!=`, "
            message += "`in (a, b)`, `&&`, and `||` of `==` tests on one value"
            raise _fail(source, message) from None
        out: list[WhenExpression] = []
        waits: list[str] = []
        for atom in _merge_notin(atoms):
            if atom.ref == "item" or atom.ref.startswith("item."):
                raise _fail(source, f"{where}: `when` may not depend on {{{{item}}}}")
            status = re.fullmatch(r"(?:tasks|steps)\.([^.]+)\.status", atom.ref)
            if status and not scope.finally_ and status.group(1) in scope.nodes:
                # Outside finally the IR has no task status; but since a failed task stops the
                # run, "A succeeded" is "A ran and was not skipped": wait for A, share its guards.
                node = scope.nodes[status.group(1)]
                if atom.operator == "in" and set(atom.values) == {"Succeeded"}:
                    waits.extend(node.leaves)
                    out.extend(w for w in node.whens if w not in out)
                    continue
                message = f"{where}: `when: {text}`: outside the exit handler only "
                message += f"`{{{{{atom.ref}}}}} == Succeeded` is supported (use `depends`)"
                raise _fail(source, message)
            expr = self.call_text("{{" + atom.ref + "}}", scope, source, f"{where} when")
            values = atom.values
            mapping = _WORKFLOW_PHASE if expr == "$(tasks.status)" else None
            if re.fullmatch(r"\$\(tasks\.[^.]+\.status\)", expr):
                mapping = _TASK_PHASE
            if mapping is not None:
                unknown = [v for v in values if v not in mapping]
                if unknown:
                    message = (
                        f"{where}: `when`: unknown status {unknown[0]!r} for {{{{{atom.ref}}}}}"
                    )
                    raise _fail(source, message)
                values = list(dict.fromkeys(m for v in values for m in mapping[v]))
            operator: WhenOperator = "in" if atom.operator == "in" else "notin"
            out.append(WhenExpression(expr, operator, values, source))
        return out, waits


def _merge_notin(atoms: list[_Atom]) -> list[_Atom]:
    """`x != a && x != b` is one `notin [a, b]`, as the emitter writes it."""
    merged: list[_Atom] = []
    for atom in atoms:
        same = [m for m in merged if m.operator == "notin" and m.ref == atom.ref]
        if atom.operator == "notin" and same:
            same[0].values = [*same[0].values, *atom.values]
        else:
            merged.append(_Atom(atom.ref, atom.operator, list(atom.values)))
    return merged


def translate(text: str, resolve: Callable[[str], str], source: Source, where: str) -> str:
    """Replace every `{{...}}` in `text` with its IR expression; unknown tags are errors."""

    def repl(m: re.Match[str]) -> str:
        path = m.group(1)
        if path.startswith("="):
            raise _fail(source, f"{where}: expression tags {{{{=...}}}} are not supported")
        try:
            return resolve(path)
        except _Bad as exc:
            raise _fail(source, f"{where}: {{{{{path}}}}}: {exc}") from None

    return _TAG.sub(repl, text)


def _toposort(edges: dict[str, list[str]], where: str, source: Source) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = " -> ".join([*path[path.index(node) :], node])
            raise _fail(source, f"{where}: dependency cycle {cycle}")
        state[node] = 1
        for dep in edges[node]:
            visit(dep, [*path, node])
        state[node] = 2
        order.append(node)

    for node in edges:
        visit(node, [])
    return order


# ---------------------------------------------------------------------------------------------
# Container / script / containerSet templates -> TaskSpec.


class _LeafBuilder:
    def __init__(
        self, conv: _Converter, coll: _Collection, template: SourceMap, key: str | None
    ) -> None:
        self.conv = conv
        self.template = template
        self.name = str(template.get("name"))
        self.where = f"template {self.name!r}"
        self.base_key = coll.prefix + self.name if key is None else key.split(":", 1)[1]
        self.declared: dict[str, ParamSpec] = {}
        self.implicit: dict[str, ParamSpec] = {}
        self.bindings: dict[str, str] = {}
        self.outputs: list[tuple[str, str, str | None, Source]] = []
        self.direct: set[str] = set()
        self.mounts: list[tuple[str, str]] = []  # (mountPath, workspace)
        self.workspaces: dict[str, WorkspaceDecl] = {}
        self.ws_bindings: dict[str, str] = {}
        self.results_mount = False

    def build(self) -> _Leaf:
        t = self.template
        allowed = {"name", "inputs", "outputs", "container", "script", "containerSet"}
        allowed |= {"retryStrategy", "activeDeadlineSeconds", "timeout", "volumes"}
        _check_keys(t, allowed, _IGNORED_TEMPLATE, self.where)
        for p in self.conv._inputs(t, self.where):
            self.declared[p.name] = p
        self._read_outputs()
        self._read_volumes()
        if "container" in t:
            steps = [self._step(t["container"], _at(t, "container"), "container", script=False)]
        elif "script" in t:
            steps = [self._step(t["script"], _at(t, "script"), "script", script=True)]
        else:
            steps = self._container_set(_map(t["containerSet"], _at(t, "containerSet"), self.where))
        collected = []
        for name, path, default, source in self.outputs:
            if self.results_mount and path == f"{RESULTS_DIR}/{name}" and default is None:
                self.direct.add(name)
            if name not in self.direct:
                where = f"{self.where} output {name!r} valueFrom.path"
                collected.append(CollectedOutput(name, self._text(path, source, where), default))
        if collected:
            steps.append(collector_step(collected, _at(t, "outputs")))
        retries = self.conv.default_retries
        if "retryStrategy" in t:
            retries = self.conv._retries(t["retryStrategy"], _at(t, "retryStrategy"))
        timeout = self._timeout()
        key = self.conv.spec_key(self.base_key)
        spec = TaskSpec(
            name=key,
            steps=steps,
            params=[*self.declared.values(), *self.implicit.values()],
            results=[ResultSpec(n, source=s) for n, _, _, s in self.outputs],
            workspaces=list(self.workspaces.values()),
            source=_src(t),
        )
        self.conv.library[key] = spec
        outputs = {n for n, _, _, _ in self.outputs}
        return _Leaf(key, spec, retries, timeout, self.bindings, outputs, self.ws_bindings)

    def _timeout(self) -> float | None:
        t = self.template
        limits: list[float] = []
        if "activeDeadlineSeconds" in t:
            where = f"{self.where} activeDeadlineSeconds"
            limits.append(
                _deadline(t["activeDeadlineSeconds"], _at(t, "activeDeadlineSeconds"), where)
            )
        if "timeout" in t:
            limits.append(_duration(t["timeout"], _at(t, "timeout"), f"{self.where} timeout"))
        return min(limits) if limits else None

    def _read_outputs(self) -> None:
        t = self.template
        raw = _map(t.get("outputs") or {}, _at(t, "outputs"), self.where)
        _check_keys(raw, {"parameters"}, set(), f"{self.where} outputs")
        for item in _list(raw.get("parameters"), _at(raw, "parameters"), self.where):
            p = _map(item, _at(raw, "parameters"), f"{self.where} outputs.parameters")
            _check_keys(p, {"name", "valueFrom", "description"}, set(), f"{self.where} output")
            name = _name(p, f"{self.where} outputs.parameters")
            where = f"{self.where} output {name!r}"
            value_from = _map(p.get("valueFrom"), _at(p, "valueFrom"), where)
            _check_keys(value_from, {"path", "default"}, set(), f"{where} valueFrom")
            path = value_from.get("path")
            if not isinstance(path, str) or not path:
                raise _fail(_src(value_from), f"{where}: needs valueFrom.path")
            default = None
            if "default" in value_from:
                default = _scalar(value_from["default"], _at(value_from, "default"), where)
            if any(n == name for n, _, _, _ in self.outputs):
                raise _fail(_at(p, "name"), f"{where}: duplicate output parameter")
            self.outputs.append((name, path, default, _src(p)))

    def _read_volumes(self) -> None:
        for raw in _list(self.template.get("volumes"), _at(self.template, "volumes"), self.where):
            volume = _map(raw, _at(self.template, "volumes"), f"{self.where} volumes")
            if volume.get("name") == RESULTS_VOLUME and set(volume) == {"name", "emptyDir"}:
                self.results_mount = True
                continue
            why = "template volumes (declare spec.volumes or volumeClaimTemplates)"
            raise _unsupported(self.template, "volumes", self.where, why)

    def _container_set(self, cs: SourceMap) -> list[Step]:
        where = f"{self.where} containerSet"
        _check_keys(cs, {"containers", "volumeMounts"}, set(), where)
        shared = _list(cs.get("volumeMounts"), _at(cs, "volumeMounts"), where)
        nodes: dict[str, SourceMap] = {}
        after: dict[str, list[str]] = {}
        for raw in _list(cs.get("containers"), _at(cs, "containers"), where):
            c = _map(raw, _at(cs, "containers"), where)
            name = _name(c, f"{where} container")
            nodes[name] = c
            deps = _list(c.get("dependencies"), _at(c, "dependencies"), where)
            after[name] = [_scalar(d, _at(c, "dependencies"), where) for d in deps]
        if not nodes:
            raise _fail(_src(cs), f"{where}: no containers")
        order: list[str] = []
        remaining = dict(after)
        while remaining:
            ready = [n for n, d in remaining.items() if all(x in order for x in d)]
            if len(ready) != 1 or (order and order[-1] not in remaining[ready[0]]):
                why = "its containers must form one chain (IR steps run one after another)"
                raise _fail(_src(cs), f"{where}: {why}")
            order.append(ready[0])
            del remaining[ready[0]]
        steps = []
        for name in order:
            c = nodes[name]
            steps.append(self._step(c, _src(c), "containerSet container", False, shared))
        return steps

    def _step(
        self,
        raw: Any,
        source: Source,
        what: str,
        script: bool,
        shared_mounts: list[Any] | None = None,
    ) -> Step:
        c = _map(raw, source, f"{self.where} {what}")
        where = f"{self.where} {what}"
        allowed = {"name", "image", "command", "args", "env", "workingDir", "volumeMounts"}
        if script:
            allowed.add("source")
        if what.startswith("containerSet"):
            allowed.add("dependencies")
        _check_keys(c, allowed, _IGNORED_CONTAINER, where)
        for mount in [
            *(shared_mounts or []),
            *_list(c.get("volumeMounts"), _at(c, "volumeMounts"), where),
        ]:
            self._mount(_map(mount, _at(c, "volumeMounts"), where), where)

        def text(value: Any, key: str) -> str:
            return self._text(_scalar(value, _at(c, key), where), _at(c, key), f"{where} {key}")

        command = [text(v, "command") for v in _list(c.get("command"), _at(c, "command"), where)]
        args = [text(v, "args") for v in _list(c.get("args"), _at(c, "args"), where)]
        env: dict[str, str] = {}
        for item in _list(c.get("env"), _at(c, "env"), where):
            e = _map(item, _at(c, "env"), f"{where} env")
            _check_keys(e, {"name", "value"}, set(), f"{where} env")
            ename = e.get("name")
            if not isinstance(ename, str):
                raise _fail(_src(e), f"{where} env: `name` is required")
            env[ename] = text(e.get("value", ""), "env")
        image = c.get("image")
        if not isinstance(image, str) or not image:
            raise _fail(_at(c, "image"), f"{where}: `image` is required")
        image = text(image, "image")
        working_dir = text(c["workingDir"], "workingDir") if "workingDir" in c else None
        name = str(c.get("name") or "main")
        step = Step(name, image, command, args, None, env, working_dir, source=_src(c))
        if script:
            if args:
                raise _unsupported(c, "args", where, "arguments to a script")
            body = text(c.get("source", ""), "source")
            step.script = _script_from_argo(command or ["sh"], body)
            step.command = []
        elif command == ["sh", "-c", SCRIPT_WRAPPER, SCRIPT_MARKER] and len(args) == 1:
            step.script, step.command, step.args = args[0], [], []
        return step

    def _mount(self, mount: SourceMap, where: str) -> None:
        _check_keys(mount, {"name", "mountPath"}, {"readOnly"}, f"{where} volumeMount")
        name, path = mount.get("name"), mount.get("mountPath")
        if not isinstance(name, str) or not isinstance(path, str) or not path.startswith("/"):
            raise _fail(_src(mount), f"{where} volumeMount: needs `name` and an absolute mountPath")
        path = path.rstrip("/") or "/"
        if name == RESULTS_VOLUME and self.results_mount and path == RESULTS_DIR:
            return
        if name not in self.conv.workspaces:
            message = (
                f"{where} volumeMount: no volume {name!r} in spec.volumes / volumeClaimTemplates"
            )
            raise _fail(_src(mount), message)
        if any(p == path for p, _ in self.mounts):
            return
        base = path.rsplit("/", 1)[1]
        ws = base if _NAME.match(base) and "." not in base and base not in self.workspaces else name
        self.mounts.append((path, ws))
        self.workspaces[ws] = WorkspaceDecl(ws, source=_src(mount))
        self.ws_bindings[ws] = name

    def _text(self, value: str, source: Source, where: str) -> str:
        """Translate text of a container/script body; then map mount paths to workspaces."""
        return self._path_text(translate(value, self._body_ref, source, where))

    def _path_text(self, value: str) -> str:
        if self.results_mount:
            for name, _, _, _ in self.outputs:
                pattern = rf"(?<![\w/.-]){re.escape(RESULTS_DIR)}/{re.escape(name)}(?![\w/.-])"
                if re.search(pattern, value):
                    self.direct.add(name)
                value = re.sub(pattern, f"$(results.{name}.path)", value)
        for path, ws in sorted(self.mounts, key=lambda m: -len(m[0])):
            pattern = rf"(?<![\w/.-]){re.escape(path)}(?=/|$|[^\w.-])"
            value = re.sub(pattern, f"$(workspaces.{ws}.path)", value)
        return value

    def _body_ref(self, path: str) -> str:
        parts = path.split(".")
        if parts[:2] == ["inputs", "parameters"] and len(parts) == 3:
            if parts[2] not in self.declared:
                raise _Bad(f"template {self.name!r} declares no input parameter {parts[2]!r}")
            return f"$(params.{parts[2]})"
        if parts[:2] == ["outputs", "parameters"] and len(parts) == 4 and parts[3] == "path":
            if all(n != parts[2] for n, _, _, _ in self.outputs):
                raise _Bad(f"template {self.name!r} declares no output parameter {parts[2]!r}")
            self.direct.add(parts[2])
            return f"$(results.{parts[2]}.path)"
        if path == "pod.name":
            return "$(context.taskRun.name)"
        if path == "retries":
            return "$(context.task.retry-count)"
        if parts[0] == "workflow":
            value = self.conv._workflow_ref(parts)
            pname = "-".join(parts)
            if pname in self.declared:
                raise _Bad(f"input parameter {pname!r} clashes with the implicit one for {path}")
            self.implicit[pname] = ParamSpec(
                pname, description=f"Argo {path}", source=_src(self.template)
            )
            self.bindings[pname] = value
            return f"$(params.{pname})"
        raise _Bad("not supported in a container or script")


# ---------------------------------------------------------------------------------------------
# Entry point.


def _pipeline_name(meta: Any) -> str:
    if isinstance(meta, dict):
        if isinstance(meta.get("name"), str) and meta["name"]:
            return str(meta["name"])
        if isinstance(meta.get("generateName"), str) and meta["generateName"]:
            return str(meta["generateName"]).rstrip("-.") or "workflow"
    return "workflow"


def _collection(doc: SourceMap, spec: SourceMap, prefix: str) -> _Collection:
    templates: dict[str, SourceMap] = {}
    for raw in _list(spec.get("templates"), _at(spec, "templates"), "spec.templates"):
        template = _map(raw, _at(spec, "templates"), "spec.templates")
        name = _name(template, "template")
        if name in templates:
            raise _fail(_at(template, "name"), f"duplicate template name {name!r}")
        templates[name] = template
    return _Collection(templates, prefix, _src(doc))


def load_argo(documents: list[Document]) -> Pipeline:
    """Convert the Argo documents of one input into a pipeline.

    The input holds one `Workflow` (or `CronWorkflow`), or a single `WorkflowTemplate`, plus any
    `WorkflowTemplate`s its `templateRef`s / `workflowTemplateRef` name.
    """
    docs: list[SourceMap] = []
    for document in documents:
        data = document.data
        if not isinstance(data, dict) or data.get("apiVersion") != ARGO_API:
            continue
        docs.append(_map(data, document.source, "document"))
    if not docs:
        source = documents[0].source if documents else UNKNOWN
        raise _fail(source, f"no {ARGO_API} documents")
    kinds = {"Workflow", "CronWorkflow", "WorkflowTemplate", "ClusterWorkflowTemplate"}
    mains: list[SourceMap] = []
    wft_docs: dict[str, SourceMap] = {}
    for doc in docs:
        kind = doc.get("kind")
        if kind not in kinds:
            raise _fail(_at(doc, "kind"), f"unsupported Argo kind {kind!r}")
        if kind in ("Workflow", "CronWorkflow"):
            mains.append(doc)
        else:
            wft_docs[_pipeline_name(doc.get("metadata"))] = doc
    if len(mains) > 1:
        raise _fail(_src(mains[1]), "more than one Workflow in the input; run them one at a time")
    if not mains and len(wft_docs) != 1:
        raise _fail(_src(docs[0]), "several WorkflowTemplates and no Workflow: nothing to run")
    main = mains[0] if mains else next(iter(wft_docs.values()))
    spec = _map(main.get("spec"), _at(main, "spec"), str(main.get("kind")))
    if main.get("kind") == "CronWorkflow":
        _check_keys(spec, {"workflowSpec"}, _IGNORED_CRON, "CronWorkflow spec")
        spec = _map(spec.get("workflowSpec"), _at(spec, "workflowSpec"), "spec.workflowSpec")
    wfts = {}
    for name, wft in wft_docs.items():
        wft_spec = _map(wft.get("spec"), _at(wft, "spec"), f"WorkflowTemplate {name!r}")
        wfts[name] = _collection(wft, wft_spec, f"{name}-")
    if "workflowTemplateRef" in spec:
        spec = _merge_ref(spec, wft_docs)
    coll = _collection(main, spec, "")
    conv = _Converter(spec, coll, wfts)
    return conv.convert(_pipeline_name(main.get("metadata")), _src(main))


def _merge_ref(spec: SourceMap, wft_docs: dict[str, SourceMap]) -> SourceMap:
    """A Workflow running a WorkflowTemplate: the template's spec with the Workflow's overrides."""
    ref = _map(spec["workflowTemplateRef"], _at(spec, "workflowTemplateRef"), "workflowTemplateRef")
    _check_keys(ref, {"name", "clusterScope"}, set(), "spec.workflowTemplateRef")
    name = ref.get("name")
    if name not in wft_docs:
        message = f"spec.workflowTemplateRef: WorkflowTemplate {name!r} is not among the inputs"
        raise _fail(_at(ref, "name"), message)
    allowed = {"workflowTemplateRef", "arguments", "entrypoint", "onExit", "activeDeadlineSeconds"}
    _check_keys(spec, allowed, _IGNORED_SPEC, "spec (with workflowTemplateRef)")
    base = _map(wft_docs[str(name)].get("spec"), _src(wft_docs[str(name)]), "spec")
    merged = SourceMap(base)
    merged.source = base.source
    merged.key_sources = dict(base.key_sources)
    for key in ("entrypoint", "onExit", "activeDeadlineSeconds"):
        if key in spec:
            merged[key] = spec[key]
            merged.key_sources[key] = spec.at(key)
    if "arguments" in spec:
        given = _map(spec["arguments"], spec.at("arguments"), "spec.arguments")
        values = {
            p.get("name"): p for p in _list(given.get("parameters"), given.at("parameters"), "x")
        }
        base_args = _map(base.get("arguments") or {}, base.at("arguments"), "spec.arguments")
        params = []
        for p in _list(base_args.get("parameters"), base_args.at("parameters"), "x"):
            params.append(values.pop(p.get("name"), p))
        params.extend(values.values())
        args = SourceMap({"parameters": params})
        args.source = given.source
        args.key_sources = {"parameters": given.at("parameters")}
        merged["arguments"] = args
        merged.key_sources["arguments"] = spec.at("arguments")
    return merged
