"""Who may change state through `/api`, and what a mutating request may look like.

What a caller may read and write where is its role's business (`access/gate.py`, checked by
each route; docs/access.md). Any method but GET/HEAD/OPTIONS is a write, and a browser can be
made to send one by any web page: a `<form>` POST (urlencoded, multipart or text/plain bodies
need no CORS preflight) or a body-less `fetch(..., {mode: "no-cors"})`. So a write is refused
when

- a browser says another site sent it: `Sec-Fetch-Site: cross-site`, or an `Origin` other than
  the server's own (scheme + Host), `reporter.dashboard_url`'s or one of `api.allowed_origins`
  (403);
- it carries anything but JSON: a `Content-Type` other than `application/json`, or a body
  without one (415), before the body is read;
- its body is over `MAX_BODY_BYTES` (413), before anything parses it;
- it comes from nobody (401: no bootstrap `api.token` nor personal token), unless
  `api.anonymous_writes`; or from the dashboard's session cookie without the CSRF token (403).

And a write the database does not take (a full disk, a lost connection, a lock held too long)
is answered 503 with `Retry-After`, not 500: the transaction rolled back, the client may retry.
So is a read the database cannot answer (every route, reads included, goes through the guard).

`GuardedRoute` applies all of it to every mutating route of a router, so a new route
cannot forget a check.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import Headers
from starlette.types import Message

from foredeck.access.gate import (
    CSRF_HEADER,
    CSRF_REFUSED,
    NO_TOKEN,
    SEND_TOKEN,
    authenticate,
    csrf_ok,
    unauthorized,
)
from foredeck.api.models import ErrorBody
from foredeck.db.engine import error_line
from foredeck.settings import ApiSettings, Settings

MAX_BODY_BYTES = 512 * 1024
"""Enough for a 64 KiB comment even when JSON escapes every character."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_AFTER_SECONDS = 5
"""What a 503 asks a client to wait before retrying a write the database did not take."""
UNAVAILABLE = "the database did not take the write (full, unreachable or busy); retry later"
UNREADABLE = "the database could not answer (unreachable or busy); retry later"
JSON_TYPE = "application/json"
_DEFAULT_PORTS = {"http": 80, "https": 443}

log = logging.getLogger(__name__)

bearer = HTTPBearer(
    auto_error=False, description="`api.token` or a personal token (`fdt_...`, `/api/tokens`)"
)


WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid Content-Length header, or invalid JSON"},
    401: {"model": ErrorBody, "description": "Missing or wrong API token, or writes disabled"},
    403: {"model": ErrorBody, "description": "Sent by a web page of another origin"},
    413: {"model": ErrorBody, "description": f"Body larger than {MAX_BODY_BYTES} bytes"},
    415: {"model": ErrorBody, "description": "Body or Content-Type other than JSON"},
    503: {
        "model": ErrorBody,
        "description": "The database did not take the write; retry after `Retry-After`",
        "headers": {"Retry-After": {"description": "Seconds", "schema": {"type": "integer"}}},
    },
}
"""What `GuardedRoute` may answer on any write, documented in the OpenAPI description."""

GATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No or a refused token, and the call needs one"},
    403: {"model": ErrorBody, "description": "The caller's role does not allow it"},
}
"""What any route may answer through its `Gate` check (docs/access.md)."""


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """A dependency that raises 401 unless the caller may write at all (see the module
    docstring); what it may write where is each route's `Gate` check. A write authenticated by
    the dashboard's session cookie needs the CSRF token too (403)."""
    del credentials  # declared for the OpenAPI description; `authenticate` reads the header
    who = authenticate(request)
    if who.from_cookie and not csrf_ok(request, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, CSRF_REFUSED)
    api: ApiSettings = request.app.state.settings.api
    if who.authenticated or api.anonymous_writes:
        return
    raise unauthorized(NO_TOKEN if api.token is None else f"this call needs a token: {SEND_TOKEN}")


AUTHORIZED = Depends(require_token)


def write_access_note(api: ApiSettings) -> tuple[int, str] | None:
    """What `foredeck serve` says at start about API writes (log level, line), if anything."""
    if api.anonymous_writes:
        without = " without the token" if api.token is not None else ""
        return logging.WARNING, (
            f"API writes are open to anyone{without} (api.anonymous_writes: true): whoever can "
            "reach this server can start, rerun and abort jobs"
        )
    if api.token is None and api.roles_path is not None:
        return logging.INFO, (
            "API writes need personal tokens: there is no bootstrap api.token to make the first "
            "ones with (docs/access.md)"
        )
    if api.token is None:
        return logging.INFO, "API writes are disabled: no api.token (set one to enable them)"
    return None


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lower-cased and without a default port, so
    that two spellings of one origin compare equal; None when `url` has no such origin."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def trusted_origins(settings: Settings) -> frozenset[str]:
    """`reporter.dashboard_url`'s origin and `api.allowed_origins`. Raises ValueError on an
    entry that is not an origin, so that a typo stops the start rather than every write."""
    trusted = set()
    for entry in settings.api.allowed_origins:
        origin = origin_of(entry)
        parts = urlsplit(entry.strip())
        if origin is None or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(
                f"api.allowed_origins: {entry!r} is not an origin like https://ci.example.org"
            )
        trusted.add(origin)
    dashboard = origin_of(settings.reporter.dashboard_url)
    if dashboard is not None:
        trusted.add(dashboard)
    return frozenset(trusted)


def _rebindable(origin: str) -> bool:
    """Whether `origin`'s host is a name an attacker's DNS could point at this server (DNS
    rebinding), as opposed to an IP literal or `localhost`, which no DNS answer changes."""
    host = urlsplit(origin).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def cross_site_refusal(
    request: Request, trusted: frozenset[str], *, names_need_trust: bool = False
) -> Response | None:
    """403 when a browser says a page of an untrusted origin sent `request`, else None.

    `names_need_trust` (anonymous writes, where no token stands behind the origin check): the
    server's own origin counts only with an IP literal or `localhost`, else it must be trusted,
    so that a rebound name's page cannot write."""
    headers = request.headers
    if headers.get("sec-fetch-site") == "cross-site":
        return _error(403, "cross-site requests may not change anything (Sec-Fetch-Site)")
    origin = headers.get("origin")
    if origin is None:
        return None  # not sent by a browser page (curl, `foredeck jobs`, scripts)
    given = origin_of(origin)
    own = origin_of(f"{request.url.scheme}://{headers.get('host', '')}")
    if given is not None and given in trusted:
        return None
    if given is not None and given == own and not (names_need_trust and _rebindable(given)):
        return None
    return _error(
        403,
        f"web pages of origin {origin[:200]!r} may not change anything here; "
        "list the origin in api.allowed_origins to allow them",
    )


def _media_type(headers: Headers) -> str | None:
    value = headers.get("content-type")
    return None if value is None else value.split(";", 1)[0].strip().lower()


def _unavailable(detail: str) -> Response:
    """503, not 500: nothing was half-done, and the same request may succeed in a moment."""
    return JSONResponse({"detail": detail}, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _not_json(media_type: str | None) -> Response:
    got = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
    return _error(415, f"a write takes a JSON body sent as {JSON_TYPE}, or no body; got {got}")


class GuardedRoute(APIRoute):
    """An `APIRoute` whose mutating routes need the token (a dependency, so that the OpenAPI
    description shows it), document `WRITE_RESPONSES`, and refuse cross-site requests, bodies
    other than JSON and oversized bodies before anything parses them. The trusted origins are
    the app's (`app.state.trusted_origins`, from `trusted_origins` at start)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not set(kwargs.get("methods") or ["GET"]) <= SAFE_METHODS:
            dependencies = list(kwargs.get("dependencies") or [])
            if AUTHORIZED not in dependencies:
                dependencies.append(AUTHORIZED)
            kwargs["dependencies"] = dependencies
            kwargs["responses"] = {**WRITE_RESPONSES, **(kwargs.get("responses") or {})}
        else:
            kwargs["responses"] = {**GATE_RESPONSES, **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        path = self.path

        async def handler(request: Request) -> Response:
            if request.method in SAFE_METHODS:
                try:
                    return await original(request)
                except (DBAPIError, PoolTimeout) as exc:
                    log.warning(
                        "%s %s: the database read failed: %s", request.method, path, error_line(exc)
                    )
                    return _unavailable(UNREADABLE)
            state = request.app.state
            refused = cross_site_refusal(
                request, state.trusted_origins, names_need_trust=state.anonymous_writes
            )
            if refused is not None:
                return refused
            media_type = _media_type(request.headers)
            if media_type not in (None, JSON_TYPE):
                return _not_json(media_type)
            body = await _read_body(request)
            if isinstance(body, Response):
                return body
            if body and media_type is None:
                return _not_json(media_type)
            try:
                return await original(_replay(request, body))
            except (DBAPIError, PoolTimeout) as exc:
                why = error_line(exc)
                log.warning("%s %s: the database write failed: %s", request.method, path, why)
                return _unavailable(UNAVAILABLE)

        return handler


async def _read_body(request: Request) -> bytes | Response:
    """The whole body, or 400/413 without reading past `MAX_BODY_BYTES`."""
    length = request.headers.get("content-length")
    if length is not None and not (length.isascii() and length.isdigit()):
        return _error(400, "invalid Content-Length header")
    if length is not None and int(length) > MAX_BODY_BYTES:
        return _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return _too_large()
    return bytes(body)


def _error(status: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, status)


def _too_large() -> Response:
    return _error(413, f"request body larger than {MAX_BODY_BYTES} bytes")


def _replay(request: Request, body: bytes) -> Request:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)
