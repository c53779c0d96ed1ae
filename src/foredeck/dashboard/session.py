"""Signing in to the dashboard with an API token, and out (docs/access.md).

The sign-in form takes a personal token (or the bootstrap `api.token`) and keeps it in an
HttpOnly session cookie, so that pages know who is looking (private jobs, the buttons a role
may use) and the run page's buttons need no token box. Both forms carry the CSRF token
(`access.gate`): a POST without it, or with another, is refused with 403 and changes nothing.
A login through OIDC or GitHub (`dashboard.login`) sets the same cookie; signing out of one
also revokes the session token the login made.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from foredeck.access import audit, tokens
from foredeck.access.gate import (
    CSRF_FIELD,
    SESSION_COOKIE,
    RequestGate,
    csrf_ok,
    principal_for_token,
    secure_cookies,
)
from foredeck.access.principal import Principal
from foredeck.dashboard.app import PageRoute, templates
from foredeck.db.engine import write_lock
from foredeck.settings import Settings

MAX_FORM_BYTES = 4096
SESSION_DAYS = 7
CSRF_MISSING = "the form's CSRF token is missing or wrong: reload the page and try again"

router = APIRouter(route_class=PageRoute)


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form of at most `MAX_FORM_BYTES` (one value per field), refusing any
    POST without the CSRF token before anything else is read into effect."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not media_type:
        raise HTTPException(403, CSRF_MISSING)  # no form at all, so no CSRF token either
    if media_type != "application/x-www-form-urlencoded":
        raise HTTPException(415, "a form of application/x-www-form-urlencoded is expected")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, f"form larger than {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(body.decode(), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "malformed form") from None
    form = {key: values[0] for key, values in fields.items() if values}
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        raise HTTPException(403, CSRF_MISSING)
    return form


@router.get("/login", include_in_schema=False)
def login_page(request: Request, gate: RequestGate) -> Response:
    context = {"error": None, "who": gate.who, **_providers(request)}
    return templates.TemplateResponse(request, "login.html", context)


def _providers(request: Request) -> dict[str, bool]:
    """Which login buttons the sign-in page shows."""
    settings: Settings = request.app.state.settings
    return {"oidc": settings.api.oidc is not None, "github": settings.api.github_login is not None}


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = await read_form(request)
    token = form.get("token", "").strip()
    found = await run_in_threadpool(principal_for_token, request, token) if token else "no token"
    if isinstance(found, str):
        context = {"error": found, "who": None, **_providers(request)}
        # In a thread: the page's header looks the browser's session up in the database.
        return await run_in_threadpool(
            templates.TemplateResponse, request, "login.html", context, status_code=401
        )
    await run_in_threadpool(_audit, request, found, "login")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, gate: RequestGate) -> Response:
    await read_form(request)
    if gate.who.authenticated:
        await run_in_threadpool(_audit, request, gate.who, "logout", end=True)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _audit(request: Request, who: Principal, action: audit.Action, *, end: bool = False) -> None:
    """The audit entry; with `end`, a login's session token is revoked with it."""
    engine: Engine = request.app.state.engine
    writes: sessionmaker[Session] = request.app.state.writes
    with write_lock(engine), writes.begin() as session:
        login_made = who.from_cookie and who.token_id is not None
        if end and login_made and tokens.end_login(session, who.token_id or 0):
            audit.record(session, who, action, revoked=who.token_id)
        else:
            audit.record(session, who, action)
