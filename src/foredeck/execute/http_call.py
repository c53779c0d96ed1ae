"""An `http` task's attempt (Argo's `http` template): one request, made by the executor.

As Argo's agent does it (`workflow/executor/agent.go`, `executeHTTPTemplate`, revision
01ee276e): the method defaults to GET, a `Host` header sets the request's host, redirects are
followed, `insecureSkipVerify` skips TLS verification, loopback is reached without the
environment's proxy (as Go's `ProxyFromEnvironment`); the task succeeds on a 2xx status, or,
with `successCondition`, when that expr-lang expression over `request.*` and
`response.statusCode/body/headers` is true; `outputs.result` is the response body, set
whether the condition holds or not. A request that cannot be made (refused, timed out) fails
the attempt, which retries as any task's. `timeoutSeconds` defaults to 30 s (Argo's docs); the
task's and the run's deadlines bound it too.

Argo's agent reads the whole body into the node's result, and a cluster refuses a node status
over Kubernetes' request limit (3 MiB, argoproj/argo-workflows#14369): a larger body fails
here, read no further. The task log gets the request's method, its URL without credentials
or query values, its header names (never values) and the response's status and size.
"""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx

from foredeck.execute import lookups
from foredeck.execute.logs import TaskLogger
from foredeck.execute.scheduler import earliest
from foredeck.execute.steps import StepOutcome
from foredeck.pipeline.expressions import Lookup, SubstitutionError
from foredeck.pipeline.model import HttpCall, TaskStatus

DEFAULT_TIMEOUT = 30.0
"""Seconds a request may take when `timeoutSeconds` is not given (Argo's documented default)."""

MAX_BODY = 3 * 1024 * 1024
"""The largest response body kept as `outputs.result` (a node status over Kubernetes' 3 MiB
request limit is refused on a cluster)."""

MAX_REDIRECTS = 10  # Go's http.Client stops after 10

_DIRECT: dict[str, httpx.AsyncBaseTransport | None] = {
    f"all://{host}": None for host in ("127.0.0.1", "localhost", "[::1]")
}
"""Hosts reached without the environment's proxy, as Go's `ProxyFromEnvironment` reaches
loopback (others follow `HTTPS_PROXY` / `NO_PROXY` as there)."""


@dataclass
class Request:
    """An `HttpCall` with its references substituted: what is sent."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    content: bytes
    condition: str
    timeout: float
    verify: bool

    def scope(self) -> dict[str, Any]:
        """`request.*` as a successCondition sees it."""
        headers: dict[str, list[str]] = {}
        for name, value in self.headers:
            headers.setdefault(_canonical(name), []).append(value)
        return {
            "method": self.method,
            "url": self.url,
            "body": self.content.decode("utf-8", errors="replace"),
            "headers": headers,
        }


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: str = ""
    size: int = 0


class HttpCallError(Exception):
    """Why a request was not made or not read: (status, message, retryable)."""

    def __init__(self, status: TaskStatus, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


def prepare(call: HttpCall, lookup: Lookup) -> Request:
    """The request of `call` in the task's scope; ValueError says what a host cannot send."""
    for header in call.headers:
        if header.secret is not None:
            secret, key = header.secret
            raise ValueError(
                f"header {header.name!r} reads key {key!r} of Secret {secret!r}: a host run has"
                " no Kubernetes Secrets; run it on a cluster (--emit argo)"
            )
    url = lookups.text(call.url, lookup)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"url {shown_url(url)!r}: only http and https URLs can be called")
    if call.body_bytes is not None:
        content = base64.b64decode(call.body_bytes)
    else:
        content = lookups.text(call.body, lookup).encode()
    return Request(
        method=lookups.text(call.method, lookup) or "GET",  # as written, as Go sends it
        url=url,
        headers=[(h.name, lookups.text(h.value, lookup)) for h in call.headers],
        content=content,
        condition=lookups.text(call.success_condition, lookup),
        timeout=float(call.timeout_seconds or DEFAULT_TIMEOUT),
        verify=not call.insecure_skip_verify,
    )


def shown_url(url: str) -> str:
    """`url` fit for a log: no user or password, query values hidden (tokens travel there)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    query = "&".join(f"{k}=…" for k, _ in urllib.parse.parse_qsl(parts.query, True))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


async def send(request: Request) -> Response:
    """Make the request and read the response (at most `MAX_BODY` bytes)."""
    async with httpx.AsyncClient(
        verify=request.verify,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=request.timeout,
        mounts=_DIRECT,
    ) as client:
        started = time.monotonic()
        headers = httpx.Headers(request.headers)
        async with client.stream(
            request.method, request.url, headers=headers, content=request.content
        ) as reply:
            chunks: list[bytes] = []
            size = 0
            async for chunk in reply.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY:
                    raise HttpCallError(
                        "Failed",
                        f"response body over {MAX_BODY // 1024 // 1024} MiB: too large for"
                        " outputs.result (Kubernetes' request limit on a cluster)",
                        False,
                    )
                chunks.append(chunk)
                if time.monotonic() - started > request.timeout:
                    raise httpx.ReadTimeout("reading the response took too long")
            grouped: dict[str, list[str]] = {}
            for name, value in reply.headers.multi_items():
                grouped.setdefault(_canonical(name), []).append(value)
            body = b"".join(chunks).decode(reply.encoding or "utf-8", errors="replace")
            return Response(reply.status_code, reply.reason_phrase, grouped, body, size)


def _canonical(name: str) -> str:
    """A header name as Go's `http.Header` keys it (`content-type` -> `Content-Type`)."""
    return "-".join(part.capitalize() for part in name.split("-"))


def judge(request: Request, response: Response) -> str:
    """Why the response fails the task ("" when it succeeds)."""
    if not request.condition:
        if 200 <= response.status < 300:
            return ""
        return f"received non-2xx response code: {response.status}"
    from foredeck.pipeline.exprlang.api import evaluate
    from foredeck.pipeline.exprlang.errors import ExprError

    scope = {
        "request": request.scope(),
        "response": {
            "statusCode": response.status,
            "body": response.body,
            "headers": response.headers,
        },
    }
    try:
        value = evaluate(request.condition, scope)
    except ExprError as exc:
        return f"successCondition {request.condition!r}: {exc.describe(request.condition)}"
    if not isinstance(value, bool):
        return f"successCondition {request.condition!r} gave {value!r}, not a boolean"
    return "" if value else f"successCondition {request.condition!r} evaluated false"


async def run_http(
    call: HttpCall,
    lookup: Lookup,
    logger: TaskLogger,
    stop: asyncio.Future[None],
    deadlines: list[tuple[float | None, str]],
    result: str,
) -> tuple[StepOutcome, dict[str, str]]:
    """One attempt of an `http` task: (its outcome, its results: the body as `result`)."""
    try:
        request = prepare(call, lookup)
    except (SubstitutionError, ValueError) as exc:
        logger.message(f"http: {exc}")
        return ("Failed", f"http: {exc}", False), {}
    names = ", ".join(dict.fromkeys(name for name, _ in request.headers))
    sent = f"http: {request.method} {shown_url(request.url)}"
    logger.message(sent + (f" (headers: {names})" if names else ""))
    loop = asyncio.get_running_loop()
    deadline, which = earliest(deadlines)
    left = None if deadline is None else deadline - loop.time()
    if left is not None and left <= 0:
        message = f"{which} timeout expired before the request"
        logger.message(message)
        return ("TimedOut", message, which != "pipeline"), {}
    started = loop.time()
    work: asyncio.Future[Any] = asyncio.ensure_future(send(request))
    waited: list[asyncio.Future[Any]] = [work, stop]
    done, _ = await asyncio.wait(waited, timeout=left, return_when=asyncio.FIRST_COMPLETED)
    if work not in done:
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        if stop in done:
            logger.message("http request stopped: run cancelled")
            return ("Cancelled", "cancelled", False), {}
        message = f"{which} timeout expired during the request"
        logger.message(message)
        return ("TimedOut", message, which != "pipeline"), {}
    try:
        response: Response = work.result()
    except HttpCallError as exc:
        logger.message(f"http: {exc}")
        return (exc.status, f"http: {exc}", exc.retryable), {}
    except httpx.TimeoutException:
        message = f"http: no response within {request.timeout:g} s (timeoutSeconds)"
        logger.message(message)
        return ("Failed", message, True), {}
    except httpx.HTTPError as exc:
        message = f"http: request failed: {type(exc).__name__}: {exc}"
        logger.message(message)
        return ("Failed", message, True), {}
    took = loop.time() - started
    logger.message(
        f"http: {response.status} {response.reason}, {response.size} bytes in {took:.2f} s"
    )
    results = {result: response.body}
    why = judge(request, response)
    if why:
        logger.message(f"http: {why}")
        return ("Failed", f"http: {why}", True), results
    return ("Succeeded", "", False), results
