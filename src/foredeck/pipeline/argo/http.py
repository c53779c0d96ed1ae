"""An Argo `http` template -> a library `TaskSpec` whose work is one request (`HttpCall`).

Argo's agent makes the request (`workflow/executor/agent.go`, `executeHTTPTemplate`); a host
run makes it from the executor (`execute/http_call.py`). The template's `{{...}}` tags are
resolved as a container's are (inputs -> params, `{{workflow....}}` -> implicit params), by
the same `LeafBuilder`; its one output is `outputs.result`, the response body.
"""

from __future__ import annotations

import base64
import binascii

from foredeck.pipeline.argo.fields import (
    IGNORED_TEMPLATE,
    as_list,
    as_map,
    at,
    check_keys,
    fail,
    integer,
    name_of,
    scalar,
    src,
)
from foredeck.pipeline.argo.leaf import LeafBuilder
from foredeck.pipeline.argo.pod import CARRIED_TEMPLATE, carried
from foredeck.pipeline.argo.state import Collection, Leaf, Workflow
from foredeck.pipeline.argo.templates import input_params, retry_limit
from foredeck.pipeline.model import HttpCall, HttpHeader, ResultSpec, TaskSpec
from foredeck.yamlsrc import SourceMap

RESULT = "result"
"""The result holding the response body (Argo's `outputs.result`)."""

_FIELDS = {"url", "method", "headers", "body", "bodyFrom", "timeoutSeconds"}
_FIELDS |= {"successCondition", "insecureSkipVerify"}


def build_http(w: Workflow, coll: Collection, template: SourceMap, key: str | None) -> Leaf:
    """The library spec of an `http` template (built once, as `build_leaf` does)."""
    builder = LeafBuilder(w, coll, template, key)
    where = builder.where
    allowed = {"name", "inputs", "outputs", "http", "retryStrategy", "timeout"}
    allowed |= {"activeDeadlineSeconds"} | CARRIED_TEMPLATE
    check_keys(template, allowed, IGNORED_TEMPLATE, where)
    inputs = as_map(template.get("inputs") or {}, at(template, "inputs"), where)
    check_keys(inputs, {"parameters"}, set(), f"{where} inputs")
    outputs = as_map(template.get("outputs") or {}, at(template, "outputs"), where)
    if outputs:
        why = "an `http` template's one output is `outputs.result`, the response body"
        raise fail(at(template, "outputs"), f"{where}: {why}")
    for p in input_params(template, where):
        builder.declared[p.name] = p
    call = _call(builder, as_map(template["http"], at(template, "http"), f"{where} http"))
    retries = w.default_retries
    if "retryStrategy" in template:
        retries = retry_limit(template["retryStrategy"], at(template, "retryStrategy"))
    timeout = builder._timeout()  # the same rules as a container's
    spec_key = w.spec_key(builder.base_key)
    result = ResultSpec(RESULT, source=src(template), value_from="stdout")
    spec = TaskSpec(
        name=spec_key,
        steps=[],
        params=[*builder.declared.values(), *builder.implicit.values()],
        results=[result],
        source=src(template),
        cluster=carried(template, CARRIED_TEMPLATE),
        deadline_params={tp.key: tp.param for tp in builder.timeout_params},
        http=call,
    )
    w.library[spec_key] = spec
    leaf = Leaf(spec_key, spec, retries, timeout, builder.bindings, set(), {})
    leaf.stdout = RESULT
    leaf.timeout_params = tuple(builder.timeout_params)
    return leaf


def _call(builder: LeafBuilder, http: SourceMap) -> HttpCall:
    where = f"{builder.where} http"
    check_keys(http, _FIELDS, set(), where)

    def text(key: str) -> str:
        raw = scalar(http[key], at(http, key), f"{where}.{key}")
        return builder._text(raw, at(http, key), f"{where}.{key}")

    if not isinstance(http.get("url"), str) or not http["url"]:
        raise fail(at(http, "url"), f"{where}: `url` is required")
    call = HttpCall(text("url"), source=src(http))
    if "method" in http:
        call.method = text("method")
    if "body" in http and "bodyFrom" in http:
        raise fail(at(http, "bodyFrom"), f"{where}: give `body` or `bodyFrom`, not both")
    if "body" in http:
        call.body = text("body")
    if "bodyFrom" in http:
        call.body_bytes = _body_bytes(http, where)
    call.headers = [_header(raw, http, where) for raw in _list(http, "headers", where)]
    for header in call.headers:
        header.value = builder._text(header.value, at(http, "headers"), f"{where}.headers")
    if "timeoutSeconds" in http:
        seconds = integer(http["timeoutSeconds"], at(http, "timeoutSeconds"), where)
        if seconds == 0:
            raise fail(at(http, "timeoutSeconds"), f"{where}.timeoutSeconds: must be positive")
        call.timeout_seconds = seconds
    if "successCondition" in http:
        call.success_condition = text("successCondition")
        _check_condition(call.success_condition, http, where)
    if "insecureSkipVerify" in http:
        skip = http["insecureSkipVerify"]
        if skip not in (True, False, "true", "false"):
            message = f"{where}.insecureSkipVerify: must be true or false"
            raise fail(at(http, "insecureSkipVerify"), message)
        call.insecure_skip_verify = skip in (True, "true")
    return call


def _list(http: SourceMap, key: str, where: str) -> list[object]:
    return as_list(http.get(key), at(http, key), f"{where}.{key}")


def _header(raw: object, http: SourceMap, where: str) -> HttpHeader:
    """`{name, value}` or `{name, valueFrom: {secretKeyRef: {name, key}}}`."""
    entry = as_map(raw, at(http, "headers"), f"{where}.headers")
    what = f"{where}.headers"
    check_keys(entry, {"name", "value", "valueFrom"}, set(), what)
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise fail(src(entry), f"{what}: `name` is required")
    if "valueFrom" not in entry:
        return HttpHeader(name, scalar(entry.get("value", ""), src(entry), f"{what} {name!r}"))
    if "value" in entry:
        raise fail(src(entry), f"{what} {name!r}: give `value` or `valueFrom`, not both")
    source = as_map(entry["valueFrom"], at(entry, "valueFrom"), f"{what} {name!r} valueFrom")
    check_keys(source, {"secretKeyRef"}, set(), f"{what} {name!r} valueFrom")
    ref = as_map(source.get("secretKeyRef"), at(source, "secretKeyRef"), f"{what} {name!r}")
    check_keys(ref, {"name", "key", "optional"}, set(), f"{what} {name!r} secretKeyRef")
    secret = name_of(ref, f"{what} {name!r} secretKeyRef")
    key = ref.get("key")
    if not isinstance(key, str) or not key:
        raise fail(src(ref), f"{what} {name!r} secretKeyRef: `key` is required")
    return HttpHeader(name, secret=(secret, key))


def _body_bytes(http: SourceMap, where: str) -> str:
    """`bodyFrom.bytes`: base64 (a Go `[]byte` in JSON), checked now, kept as written."""
    source = as_map(http["bodyFrom"], at(http, "bodyFrom"), f"{where}.bodyFrom")
    check_keys(source, {"bytes"}, set(), f"{where}.bodyFrom")
    raw = scalar(source.get("bytes", ""), at(source, "bytes"), f"{where}.bodyFrom.bytes")
    try:
        base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise fail(at(source, "bytes"), f"{where}.bodyFrom.bytes: not base64") from None
    return raw


def _check_condition(text: str, http: SourceMap, where: str) -> None:
    """Syntax and functions of `successCondition` now, not when the response is in."""
    from foredeck.pipeline.exprlang.api import check

    if "$(" in text:  # a value known at run time: checked once substituted
        return
    problems = check(text)
    if problems:
        reasons = "; ".join(p.describe(text) for p in problems)
        raise fail(at(http, "successCondition"), f"{where}.successCondition: {text!r}: {reasons}")
