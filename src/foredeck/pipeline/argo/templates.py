"""Reading one Argo template: which kind it is, its input parameters and its retry strategy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from foredeck.pipeline.argo.artifacts import input_artifact_params
from foredeck.pipeline.argo.fields import (
    as_list,
    as_map,
    at,
    check_keys,
    duration,
    fail,
    integer,
    name_of,
    scalar,
    src,
    unsupported,
)
from foredeck.pipeline.argo.state import Collection
from foredeck.pipeline.model import ParamSpec, RetryPolicy, RetryStrategy
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap

GROUP_KINDS = ("dag", "steps")
"""Templates that call other templates; inlined into the one flat IR DAG."""


def find_template(coll: Collection, name: str, source: Source, where: str) -> SourceMap:
    if name not in coll.templates:
        raise fail(source, f"{where}: no template named {name!r}")
    return coll.templates[name]


def template_kind(template: SourceMap) -> str:
    """`container`, `script`, `containerSet`, `http`, `resource`, `dag` or `steps`; other
    kinds are refused."""
    known = ("container", "script", "containerSet", "http", "resource", "dag", "steps")
    kinds = [k for k in known if k in template]
    other = [k for k in ("suspend", "plugin", "data") if k in template]
    name = template.get("name")
    if other:
        raise unsupported(template, other[0], f"template {name!r}", f"`{other[0]}` templates")
    if len(kinds) != 1:
        kinds_text = "container, script, http, resource, dag, steps"
        message = f"template {name!r}: needs exactly one of {kinds_text}"
        raise fail(src(template), message)
    return kinds[0]


def param_spec(raw: Any, source: Source, where: str) -> ParamSpec:
    """A parameter declaration (`spec.arguments` or a template's `inputs`)."""
    p = as_map(raw, source, where)
    check_keys(p, {"name", "value", "default", "description", "enum"}, set(), where)
    name = name_of(p, where)
    default: str | None = None
    for key in ("default", "value"):  # a passed value wins over both (Argo's rule)
        if p.get(key) is not None:
            default = scalar(p[key], at(p, key), f"{where} {name!r}")
    description = p.get("description")
    return ParamSpec(
        name,
        default=default,
        description=description if isinstance(description, str) else "",
        source=src(p),
    )


def input_params(template: SourceMap, where: str) -> list[ParamSpec]:
    raw = as_map(template.get("inputs") or {}, at(template, "inputs"), where)
    check_keys(raw, {"parameters", "artifacts"}, set(), f"{where} inputs")
    params = [
        param_spec(item, at(raw, "parameters"), f"{where} inputs.parameters")
        for item in as_list(raw.get("parameters"), at(raw, "parameters"), where)
    ]
    params += input_artifact_params(template, where)
    if len({p.name for p in params}) != len(params):
        raise fail(at(raw, "parameters"), f"{where}: duplicate input parameter")
    return params


def declared_arguments(
    args: dict[str, tuple[str, Source]], names: Iterable[str]
) -> dict[str, tuple[str, Source]]:
    """The arguments of a call that bind one of the template's inputs `names`: Argo binds each
    declared input from the argument of its name and ignores any other argument
    (`common.ProcessArgs`), so a call may pass more than the template reads."""
    wanted = set(names)
    return {name: value for name, value in args.items() if name in wanted}


def parallelism(holder: SourceMap, where: str) -> int | None:
    """`parallelism` of a dag/steps template or of the spec: how many children (pods, for the
    spec) run at once; None when not set."""
    if "parallelism" not in holder:
        return None
    value = integer(holder["parallelism"], at(holder, "parallelism"), f"{where} parallelism")
    if value < 1:
        raise fail(at(holder, "parallelism"), f"{where}: `parallelism` must be at least 1")
    return value


POLICIES: tuple[RetryPolicy, ...] = ("Always", "OnFailure", "OnError", "OnTransientError")


def retry_limit(raw: Any, source: Source) -> int:
    """The retry limit of a `retryStrategy` (the rest: `retry_strategy`)."""
    strategy = as_map(raw, source, "retryStrategy")
    allowed = {"limit", "retryPolicy", "backoff", "affinity", "expression"}
    check_keys(strategy, allowed, set(), "retryStrategy")
    if strategy.get("retryPolicy", "OnFailure") not in POLICIES:
        message = f"retryStrategy.retryPolicy: one of {', '.join(POLICIES)}"
        raise fail(at(strategy, "retryPolicy"), message)
    if "limit" not in strategy:
        raise fail(src(strategy), "retryStrategy: `limit` is required (unbounded retries)")
    return integer(strategy["limit"], at(strategy, "limit"), "retryStrategy.limit")


def retry_strategy(raw: Any, source: Source) -> RetryStrategy | None:
    """The policy and backoff of a `retryStrategy`; None when it only sets `limit`."""
    retry_limit(raw, source)
    strategy = as_map(raw, source, "retryStrategy")
    expression = _retry_expression(strategy)
    # Argo: without a policy, an expression retries any failure (`RetryPolicyActual`)
    policy = strategy.get("retryPolicy", "OnFailure" if expression is None else "Always")
    raw_backoff = strategy.get("backoff")
    if raw_backoff is None and policy in ("OnFailure", "Always") and expression is None:
        return None
    where = "retryStrategy.backoff"
    backoff = as_map(raw_backoff or {}, at(strategy, "backoff"), where)
    check_keys(backoff, {"duration", "factor", "maxDuration", "cap"}, set(), where)
    times: dict[str, float | None] = {}
    for key in ("duration", "maxDuration", "cap"):
        given = backoff.get(key)
        times[key] = None if given is None else duration(given, at(backoff, key), where)
    factor = 1.0
    if backoff.get("factor") is not None:
        text = scalar(backoff["factor"], at(backoff, "factor"), where)
        try:
            factor = float(text)
        except ValueError:
            raise fail(at(backoff, "factor"), f"{where}.factor: not a number: {text!r}") from None
        if not 0 < factor <= 100:
            raise fail(at(backoff, "factor"), f"{where}.factor: must be in (0, 100]")
    return RetryStrategy(
        cast(RetryPolicy, policy),
        times["duration"],
        factor,
        times["maxDuration"],
        times["cap"],
        expression,
    )


RETRY_VARIABLES = ("exitCode", "status", "duration", "message")
"""What `lastRetry.` offers a retry expression (Argo's `buildRetryStrategyLocalScope`)."""


def _retry_expression(strategy: SourceMap) -> str | None:
    """`retryStrategy.expression`, checked now: its syntax, functions and variables."""
    if "expression" not in strategy:
        return None
    from foredeck.pipeline.exprlang.api import check, compile_expr
    from foredeck.pipeline.exprlang.nodes import Var, children

    where = "retryStrategy.expression"
    text = scalar(strategy["expression"], at(strategy, "expression"), where)
    if "{{" in text:
        why = "`{{...}}` tags inside it (the template's inputs differ per call)"
        raise unsupported(strategy, "expression", where, why)
    problems = check(text)
    if problems:
        reasons = "; ".join(p.describe(text) for p in problems)
        raise fail(at(strategy, "expression"), f"{where}: {text!r}: {reasons}")
    stack = [compile_expr(text)]
    while stack:
        node = stack.pop()
        if isinstance(node, Var) and node.name != "lastRetry":
            why = f"unknown variable {node.name!r} (only lastRetry.{'/'.join(RETRY_VARIABLES)})"
            raise fail(at(strategy, "expression"), f"{where}: {text!r}: {why}")
        stack.extend(children(node))
    return text
