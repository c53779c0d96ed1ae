"""`/api/tokens`, `/api/audit` and `/api/config/reload` (docs/access.md).

A signed-in user makes, lists and revokes their own personal tokens; an admin (of `*`) those
of anyone. A token's role is never above its owner's: what the roles file grants the owner
(for one's own token: what the caller may do now). The token is in the answer to its creation
only; the database keeps its SHA-256.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from foredeck.access import audit, tokens
from foredeck.access.gate import Gate, RequestGate, Roles
from foredeck.access.principal import Principal
from foredeck.api.auth import GuardedRoute
from foredeck.api.deps import Central
from foredeck.api.models import ErrorBody, Unprocessable
from foredeck.config.roles import TEAM_PATTERN, Role, at_least
from foredeck.db.engine import write_lock
from foredeck.db.models import ApiToken
from foredeck.db.types import utcnow
from foredeck.scm.github_types import LOGIN_PATTERN
from foredeck.web.deps import AppEngine, AppSettings, Reads, Writes

MAX_AUDIT_LIMIT = 500
DEFAULT_DAYS = 30

router = APIRouter(
    prefix="/api",
    tags=["access"],
    route_class=GuardedRoute,
    responses={422: {"model": Unprocessable, "description": "Invalid request"}},
)

_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "The caller's role does not allow it"}
}


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    """What the token is for (shown in listings)."""
    role: Role
    days: int | None = Field(default=None, ge=1, le=3650)
    """Life in days, at most the server's `access.max_token_days`; by default 30, or as long
    as the token making it lives when that is shorter."""
    user: str | None = Field(default=None, pattern=LOGIN_PATTERN, max_length=100)
    """For whom (admins only); the caller by default."""
    teams: list[Annotated[str, Field(max_length=201)]] = Field(default_factory=list, max_length=100)
    """The owner's GitHub teams (`org/team`), for an admin making a token for someone else."""
    groups: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=100
    )


class TokenView(BaseModel):
    id: int
    name: str
    user: str
    role: str
    hint: str
    """The token's first characters."""
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenView:
        return cls.model_validate(row, from_attributes=True)


class MadeToken(TokenView):
    token: str
    """The token itself: shown this once."""


class AuditView(BaseModel):
    id: int
    at: datetime
    actor: str
    via: str
    action: str
    target: str | None
    detail: dict[str, Any]


class Reloaded(BaseModel):
    jobs_changed: bool
    jobs_problem: str | None
    roles_changed: bool
    roles_problem: str | None


def _owner(body: NewToken, gate: Gate) -> Principal:
    """Who the new token acts for, once the caller may make it."""
    who = gate.who
    gate.require_user("make API tokens")
    if body.user is None or (who.via != "bootstrap" and body.user == who.name):
        if who.via == "bootstrap":
            raise HTTPException(422, "the bootstrap token is nobody: name the token's `user`")
        if body.teams or body.groups:
            raise HTTPException(422, "teams and groups of one's own token come from one's login")
        return Principal(who.name, "token", who.teams, who.groups, cap=who.cap)
    gate.require_admin("make API tokens for other users")
    for team in body.teams:
        if not TEAM_PATTERN.match(team):
            raise HTTPException(422, f"{team!r} is not a GitHub team as `org/team`")
    return Principal(body.user, "token", frozenset(body.teams), frozenset(body.groups))


def _life(days: int | None, max_days: int, maker: Principal) -> timedelta:
    """How long a new token lives: never past `max_days`, nor past the token making it."""
    if days is not None and days > max_days:
        raise HTTPException(422, f"days: at most {max_days} (access.max_token_days)")
    ttl = timedelta(days=days if days is not None else min(DEFAULT_DAYS, max_days))
    if maker.expires_at is not None and utcnow() + ttl > maker.expires_at:
        if days is not None:
            raise HTTPException(
                422,
                f"days: a token may not outlive the token that makes it (until "
                f"{maker.expires_at.isoformat(timespec='seconds')})",
            )
        ttl = maker.expires_at - utcnow()
    return ttl


@router.post("/tokens", response_model=MadeToken, status_code=201, responses=_FORBIDDEN)
def create_token(
    body: NewToken,
    gate: RequestGate,
    engine: AppEngine,
    writes: Writes,
    settings: AppSettings,
) -> MadeToken:
    owner = _owner(body, gate)
    could = gate.access.highest(owner)
    if gate.who.via != "bootstrap" and gate.who.name == owner.name:
        could = gate.access.highest(gate.who)
    if not at_least(could, body.role) or could is None:
        raise HTTPException(
            403,
            f"a token of {owner.name} may not be {body.role}: {owner.name} has "
            f"{could or 'no role'}",
        )
    ttl = _life(body.days, settings.access.max_token_days, gate.who)
    with write_lock(engine), writes.begin() as session:
        made = tokens.create(
            session,
            user=owner.name,
            name=body.name,
            role=body.role,
            ttl=ttl,
            by=gate.who,
            teams=owner.teams,
            groups=owner.groups,
        )
        target = f"token {made.row.id}"
        audit.record(session, gate.who, "token.create", target, user=owner.name, role=body.role)
        view = TokenView.of(made.row)
    return MadeToken(**view.model_dump(), token=made.token)


@router.get("/tokens", response_model=list[TokenView], responses=_FORBIDDEN)
def list_tokens(
    gate: RequestGate,
    reads: Reads,
    user: Annotated[str | None, Query(max_length=100)] = None,
    all: bool = False,
) -> list[TokenView]:
    """The caller's tokens; an admin's choice of `user`'s or `all`."""
    gate.require_user("list API tokens")
    if all or (user is not None and user != gate.who.name):
        gate.require_admin("list other users' API tokens")
    whose = None if all else (user or gate.who.name)
    with reads() as session:
        return [TokenView.of(row) for row in tokens.listed(session, whose)]


@router.delete(
    "/tokens/{token_id}",
    response_model=TokenView,
    responses={**_FORBIDDEN, 404: {"model": ErrorBody, "description": "No such token"}},
)
def revoke_token(token_id: int, gate: RequestGate, engine: AppEngine, writes: Writes) -> TokenView:
    gate.require_user("revoke API tokens")
    with write_lock(engine), writes.begin() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise HTTPException(404, f"no API token {token_id}")
        if row.user != gate.who.name or gate.who.via == "bootstrap":
            gate.require_admin("revoke other users' API tokens")
        if row.revoked_at is None:
            tokens.revoke(session, token_id)
            audit.record(session, gate.who, "token.revoke", f"token {token_id}", user=row.user)
        return TokenView.of(row)


@router.get("/audit", response_model=list[AuditView], responses=_FORBIDDEN)
def audit_log(
    gate: RequestGate,
    reads: Reads,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    since: datetime | None = None,
    before: Annotated[int | None, Query(ge=1, description="the previous page's last id")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = 100,
) -> list[AuditView]:
    """Newest first (admins)."""
    gate.require_admin("read the audit log")
    with reads() as session:
        rows = audit.entries(
            session, actor=actor, action=action, since=since, before_id=before, limit=limit
        )
        return [AuditView.model_validate(row, from_attributes=True) for row in rows]


@router.post("/config/reload", response_model=Reloaded, responses=_FORBIDDEN)
def reload_config(
    gate: RequestGate, central: Central, engine: AppEngine, writes: Writes, request_roles: Roles
) -> Reloaded:
    """Read the job config and the roles file now rather than at the next interval (admins)."""
    gate.require_admin("reload the config")
    jobs_changed = central.reload() if central is not None else False
    roles_changed = request_roles.reload()
    with write_lock(engine), writes.begin() as session:
        audit.record(
            session, gate.who, "config.reload", None, jobs=jobs_changed, roles=roles_changed
        )
    return Reloaded(
        jobs_changed=jobs_changed,
        jobs_problem=central.problem if central is not None else None,
        roles_changed=roles_changed,
        roles_problem=request_roles.problem,
    )
