"""Requests: who sent one (`authenticate`), what they may do (`Gate`), and the dashboard's
session and CSRF cookies.

A bearer token in `Authorization` is the bootstrap `api.token` (admin everywhere) or a
personal token; a refused one is a 401 whatever the route. Without the header the dashboard's
session cookie (HttpOnly, holding a personal token) is read; a stale one counts as nobody. A
state-changing request authenticated by that cookie must also carry the CSRF token (the
`foredeck_csrf` cookie's value, in the `X-CSRF-Token` header or a form's `csrf_token` field):
a browser sends cookies with requests other sites' pages make, never that header or field.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy import ColumnElement, Engine
from sqlalchemy.orm import Session, sessionmaker

from foredeck.access import audit, tokens
from foredeck.access.principal import ANONYMOUS, SYSTEM, Access, Principal
from foredeck.config.roles import Role, RolesAgent, at_least
from foredeck.db.engine import write_lock
from foredeck.settings import Settings
from foredeck.web.probes import METRICS_REFUSED, metrics_by_token

log = logging.getLogger(__name__)

SESSION_COOKIE = "foredeck_session"
CSRF_COOKIE = "foredeck_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
BOOTSTRAP_NAME = "api-token"
SEND_TOKEN = "send the header `Authorization: Bearer <token>`"  # noqa: S105 (a message)
NO_TOKEN = (
    "API writes are disabled without a token: the server has no api.token and none of the "
    f"personal tokens (fdt_...) was sent. Set api.token (FOREDECK_API__TOKEN) on the server "
    f"and {SEND_TOKEN}, or set api.anonymous_writes: true to let anyone who can reach the "
    "server write"
)


def attach_state(app: FastAPI, settings: Settings, engine: Engine) -> None:
    """The roles file's agent on `app.state.roles` (a broken file fails at start); a reload
    it takes later is written to the audit log."""
    writes = sessionmaker(engine, expire_on_commit=False)

    def reloaded(path: str) -> None:
        with write_lock(engine), writes.begin() as session:
            audit.record(session, SYSTEM, "roles.reload", path)

    app.state.roles = RolesAgent(
        settings.api.roles_path,
        reload_interval=settings.api.roles_reload_interval,
        on_reload=reloaded,
    )
    app.state.metrics_guard = metrics_guard


def unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None  # another scheme (a proxy's Basic auth in front of the server): not ours
    if not token.strip():
        raise unauthorized(f"empty bearer token: {SEND_TOKEN}")
    return token.strip()


def _reads(request: Request) -> sessionmaker[Session]:
    found: sessionmaker[Session] = request.app.state.reads
    return found


def authenticate(request: Request) -> Principal:
    """The request's principal (cached on `request.state`); 401 for a refused bearer token."""
    found: Principal | None = getattr(request.state, "principal", None)
    if found is not None:
        return found
    principal = _authenticate(request)
    request.state.principal = principal
    return principal


def _authenticate(request: Request) -> Principal:
    given = _bearer(request)
    if given is not None:
        found = _token_principal(request, given, cookie=False)
        if isinstance(found, str):
            raise unauthorized(found)
        return found
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = _token_principal(request, cookie, cookie=True)
        return ANONYMOUS if isinstance(found, str) else found  # stale: the pages say "sign in"
    return ANONYMOUS


def _token_principal(request: Request, token: str, *, cookie: bool) -> Principal | str:
    """Whom `token` (the bootstrap or a personal one) stands for, or why it is refused."""
    settings: Settings = request.app.state.settings
    expected = settings.api.token
    if expected is not None and hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        return Principal(BOOTSTRAP_NAME, "bootstrap", from_cookie=cookie)
    if not tokens.looks_personal(token):
        if expected is None:
            return NO_TOKEN
        return f"wrong API token: {SEND_TOKEN} with `api.token` or a personal token (fdt_...)"
    with _reads(request)() as session:
        try:
            return tokens.principal_of(session, token, cookie=cookie)
        except tokens.TokenRefused as exc:
            return str(exc)


def principal_for_token(request: Request, token: str) -> Principal | str:
    """For the dashboard's sign-in form: whom `token` stands for, or why it is refused."""
    return _token_principal(request, token, cookie=True)


def access_of(request: Request) -> Access:
    roles: RolesAgent = request.app.state.roles
    settings: Settings = request.app.state.settings
    return Access(roles.get(), anonymous_writes=settings.api.anonymous_writes)


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser: its cookie's, or a new one that the response sets."""
    current = request.cookies.get(CSRF_COOKIE)
    if current and 20 <= len(current) <= 100:
        return current
    made: str | None = getattr(request.state, "new_csrf", None)
    if made is None:
        made = request.state.new_csrf = secrets.token_urlsafe(32)
    return made


def secure_cookies(request: Request) -> bool:
    """Whether cookies get `Secure`: over https, or behind a proxy that ends TLS for a
    dashboard whose `reporter.dashboard_url` is https (the request itself then says http)."""
    settings: Settings = request.app.state.settings
    return request.url.scheme == "https" or settings.reporter.dashboard_url.startswith("https://")


def csrf_ok(request: Request, sent: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


CSRF_REFUSED = (
    "this request carries the session cookie but not the CSRF token: send the "
    f"`{CSRF_COOKIE}` cookie's value in the {CSRF_HEADER} header (the dashboard's pages do)"
)


@dataclass(frozen=True)
class Gate:
    """One request's principal and the roles file: the checks a route makes."""

    who: Principal
    access: Access

    def may(self, needed: Role, org: str | None, repo: str | None) -> bool:
        return self.access.may(self.who, needed, org, repo)

    def require(self, needed: Role, org: str | None, repo: str | None, what: str) -> None:
        """401 (nobody) or 403 unless the principal holds `needed` on `org/repo`."""
        if not self.may(needed, org, repo):
            where = f"{org}/{repo}" if org and repo else (org or "everything")
            self._refuse(needed, what, f"on {where}", self.access.role(self.who, org, repo))

    def require_anywhere(self, needed: Role, what: str) -> None:
        had = self.access.highest(self.who)
        if not at_least(had, needed):
            self._refuse(needed, what, "on some repository", had)

    def require_admin(self, what: str) -> None:
        if not self.access.is_admin(self.who):
            self._refuse("admin", what, "on `*`", self.access.role(self.who, None, None))

    def require_user(self, what: str) -> None:
        if not self.who.authenticated:
            raise unauthorized(f"{what} needs a signed-in user: {SEND_TOKEN}")

    def visible(self) -> ColumnElement[bool] | None:
        return self.access.visible(self.who)

    def _refuse(self, needed: Role, what: str, where: str, had: Role | None) -> None:
        if not self.who.authenticated:
            raise unauthorized(f"{what} needs the {needed} role {where}: {SEND_TOKEN}")
        has = f"has {had}" if had else "has no role there"
        raise HTTPException(
            403,
            f"{self.who.name} may not {what}: that needs the {needed} role {where}, "
            f"and {self.who.name} {has}",
        )


def gate(request: Request) -> Gate:
    """Sync: a personal token is looked up in the database (FastAPI runs this in a thread)."""
    return Gate(authenticate(request), access_of(request))


RequestGate = Annotated[Gate, Depends(gate)]


async def roles_agent(request: Request) -> RolesAgent:
    found: RolesAgent = request.app.state.roles
    return found


Roles = Annotated[RolesAgent, Depends(roles_agent)]


def metrics_guard(request: Request) -> None:
    """`/metrics` of the service app: public, the metrics or bootstrap token, or a viewer of
    everything (`*`) signed in with a token; anonymous reads, even when on, do not count (the
    metrics describe the service, not a project's jobs)."""
    if metrics_by_token(request):
        return
    who = authenticate(request)
    if not who.authenticated:
        raise unauthorized(f"{METRICS_REFUSED}, or a personal token of a viewer of everything")
    Gate(who, access_of(request)).require("viewer", None, None, "read /metrics")
