"""Signing in to the dashboard through an OpenID Connect provider (`/login/oidc`) or GitHub
(`/login/github`): the provider's answer becomes a session token of the user (with the groups
or teams the provider gave), kept in the same HttpOnly session cookie the token sign-in uses,
so everything after it is the same (docs/access.md#login). A callback that fails answers a
clear 4xx (502 when the provider could not be asked) and stores nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from foredeck.access import audit, login, tokens
from foredeck.access.gate import SESSION_COOKIE, secure_cookies
from foredeck.access.principal import Principal
from foredeck.api_settings import GitHubLogin, OidcLogin
from foredeck.dashboard.app import PageRoute, error_page
from foredeck.db.engine import write_lock
from foredeck.settings import Settings

LOGIN_COOKIE = "foredeck_login"
SESSION_DAYS = 7
MAX_QUERY_CHARS = 4096

router = APIRouter(route_class=PageRoute)


def _settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


def _oidc(request: Request) -> OidcLogin:
    found = _settings(request).api.oidc
    if found is None:
        raise HTTPException(404, "no OpenID Connect login is configured (api.oidc)")
    return found


def _github(request: Request) -> GitHubLogin:
    found = _settings(request).api.github_login
    if found is None:
        raise HTTPException(404, "no GitHub login is configured (api.github_login)")
    return found


def redirect_uri(request: Request, provider: login.Provider) -> str:
    base = _settings(request).api.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/login/{provider}/callback"


def _away(request: Request, url: str, pending: login.Pending) -> Response:
    """Send the browser to the provider, remembering the login in its login cookie (`Lax`:
    the provider's redirect back is a top-level navigation from another site)."""
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        LOGIN_COOKIE,
        pending.encode(),
        max_age=login.PENDING_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/login",
    )
    return response


@router.get("/login/oidc", include_in_schema=False)
async def start_oidc(request: Request) -> Response:
    oidc = _oidc(request)
    pending = login.Pending.new("oidc")
    try:
        url = await login.oidc_authorize_url(oidc, pending, redirect_uri(request, "oidc"))
    except login.LoginRefused as exc:
        raise HTTPException(exc.status, exc.message) from None
    return _away(request, url, pending)


@router.get("/login/github", include_in_schema=False)
async def start_github(request: Request) -> Response:
    github = _github(request)
    pending = login.Pending.new("github")
    url = login.github_authorize_url(github, pending, redirect_uri(request, "github"))
    return _away(request, url, pending)


def _params(request: Request) -> dict[str, str]:
    if len(request.url.query) > MAX_QUERY_CHARS:
        raise login.LoginRefused(414, f"callback query longer than {MAX_QUERY_CHARS} characters")
    return {key: value for key, value in request.query_params.items()}


Identify = Callable[[login.Pending, str, str], Awaitable[login.Identity]]
"""(the login under way, the authorization code, the redirect URI) -> who signed in."""


@router.get("/login/oidc/callback", include_in_schema=False)
async def oidc_callback(request: Request) -> Response:
    oidc = _oidc(request)
    qualified = _settings(request).api.github_login is not None  # `oidc:<name>`: not a login

    async def identify(pending: login.Pending, code: str, uri: str) -> login.Identity:
        return await login.oidc_identity(oidc, pending, code, uri, qualified=qualified)

    return await _callback(request, "oidc", identify)


@router.get("/login/github/callback", include_in_schema=False)
async def github_callback(request: Request) -> Response:
    github = _github(request)

    async def identify(pending: login.Pending, code: str, uri: str) -> login.Identity:
        return await login.github_identity(github, pending, code, uri)

    return await _callback(request, "github", identify)


async def _callback(request: Request, provider: login.Provider, identify: Identify) -> Response:
    """The session, or an error page; the login cookie is spent unless the callback was not
    this login's (another site's forged one must not end it)."""
    pending = login.Pending.decode(request.cookies.get(LOGIN_COOKIE))
    spent = True
    try:
        code = login.checked_code(pending, provider, _params(request))
        assert pending is not None  # checked_code refuses a missing login
        identity = await identify(pending, code, redirect_uri(request, provider))
    except login.LoginRefused as exc:
        response = error_page(request, exc.status, f"login refused: {exc.message}")
        spent = exc.spent
    else:
        token = await run_in_threadpool(_open_session, request, identity)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=_days(request) * 86400,
            httponly=True,
            samesite="lax",
            secure=secure_cookies(request),
            path="/",
        )
    if spent:
        response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def _days(request: Request) -> int:
    return min(SESSION_DAYS, _settings(request).api.max_token_days)


def _open_session(request: Request, identity: login.Identity) -> str:
    """A session token for `identity` and the `login` audit entry, in one transaction."""
    engine: Engine = request.app.state.engine
    writes: sessionmaker[Session] = request.app.state.writes
    who = Principal(identity.name, identity.via, identity.teams, identity.groups)
    with write_lock(engine), writes.begin() as session:
        made = tokens.create_login(session, who, timedelta(days=_days(request)))
        audit.record(
            session,
            who,
            "login",
            f"token {made.row.id}",
            teams=sorted(identity.teams),
            groups=sorted(identity.groups),
        )
    return made.token
