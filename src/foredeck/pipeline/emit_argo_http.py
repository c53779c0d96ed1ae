"""The `http` field of an emitted Argo template: an `HttpCall` as Argo's `http` template
writes it (`argo/http.py` reads it back), its texts rewritten from `$(...)` to `{{...}}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from foredeck.pipeline.model import HttpCall
from foredeck.types import Source

Rewrite = Callable[[str, Source, str], str]
"""A text of the template in Argo's terms (the template builder's `_body`)."""


def http_body(call: HttpCall, rewrite: Rewrite) -> dict[str, Any]:
    """`http:` of the template; fields left at their default are left out, as written."""

    def text(value: str, what: str) -> str:
        return rewrite(value, call.source, f"http {what}")

    body: dict[str, Any] = {"url": text(call.url, "url")}
    if call.method:
        body["method"] = text(call.method, "method")
    headers: list[dict[str, Any]] = []
    for header in call.headers:
        if header.secret is not None:
            secret, key = header.secret
            ref = {"secretKeyRef": {"name": secret, "key": key}}
            headers.append({"name": header.name, "valueFrom": ref})
        else:
            headers.append({"name": header.name, "value": text(header.value, "header")})
    if headers:
        body["headers"] = headers
    if call.body:
        body["body"] = text(call.body, "body")
    if call.body_bytes is not None:
        body["bodyFrom"] = {"bytes": call.body_bytes}
    if call.timeout_seconds is not None:
        body["timeoutSeconds"] = call.timeout_seconds
    if call.success_condition:
        body["successCondition"] = text(call.success_condition, "successCondition")
    if call.insecure_skip_verify:
        body["insecureSkipVerify"] = True
    return body
