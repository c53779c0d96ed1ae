"""`/api/tokens`, `/api/audit` and `/api/config/reload` (docs/access.md).

The rules of tokens are `access/manage.py`'s (shared with the dashboard's tokens page). The
token is in the answer to its creation only; the database keeps its SHA-256.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from foredeck.access import audit, manage
from foredeck.access.gate import RequestGate, Roles
from foredeck.api.auth import GuardedRoute
from foredeck.api.deps import Central
from foredeck.api.models import ErrorBody, Unprocessable
from foredeck.bounds import MAX_BIGINT, NO_NUL, TextBody
from foredeck.config.roles import Role
from foredeck.db.engine import write_lock
from foredeck.db.models import ApiToken
from foredeck.scm.github_types import LOGIN_PATTERN
from foredeck.web.deps import AppEngine, AppSettings, Reads, Writes

MAX_AUDIT_LIMIT = 500

router = APIRouter(
    prefix="/api",
    tags=["access"],
    route_class=GuardedRoute,
    responses={422: {"model": Unprocessable, "description": "Invalid request"}},
)

_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "The caller's role does not allow it"}
}


def _not_a_number(value: object) -> object:
    """Pydantic would read `since=1411` as Unix time; the schema and docs say ISO 8601."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("an ISO 8601 date-time, not a number")
    return value


class NewToken(TextBody):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    """What the token is for (shown in listings)."""
    role: Role
    days: int | None = Field(default=None, ge=1, le=3650)
    """Life in days, at most the server's `api.max_token_days`; by default 30, or as long
    as the token making it lives when that is shorter."""
    user: str | None = Field(default=None, pattern=LOGIN_PATTERN, max_length=100)
    """For whom (admins only); the caller by default."""
    teams: list[Annotated[str, Field(max_length=201, pattern=NO_NUL)]] = Field(
        default_factory=list, max_length=100
    )
    """The owner's GitHub teams (`org/team`), for an admin making a token for someone else."""
    groups: list[Annotated[str, Field(max_length=200, pattern=NO_NUL)]] = Field(
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


@router.post("/tokens", response_model=MadeToken, status_code=201, responses=_FORBIDDEN)
def create_token(
    body: NewToken,
    gate: RequestGate,
    engine: AppEngine,
    writes: Writes,
    settings: AppSettings,
) -> MadeToken:
    order = manage.TokenOrder(**body.model_dump())
    with write_lock(engine), writes.begin() as session:
        made = manage.make(session, gate, order, settings.api.max_token_days)
        view = TokenView.of(made.row)
    return MadeToken(**view.model_dump(), token=made.token)


@router.get("/tokens", response_model=list[TokenView], responses=_FORBIDDEN)
def list_tokens(
    gate: RequestGate,
    reads: Reads,
    user: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    all: bool = False,
) -> list[TokenView]:
    """The caller's tokens; an admin's choice of `user`'s or `all`."""
    with reads() as session:
        return [TokenView.of(row) for row in manage.listed(session, gate, user, all)]


@router.delete(
    "/tokens/{token_id}",
    response_model=TokenView,
    responses={**_FORBIDDEN, 404: {"model": ErrorBody, "description": "No such token"}},
)
def revoke_token(token_id: int, gate: RequestGate, engine: AppEngine, writes: Writes) -> TokenView:
    with write_lock(engine), writes.begin() as session:
        return TokenView.of(manage.revoke(session, gate, token_id))


@router.get("/audit", response_model=list[AuditView], responses=_FORBIDDEN)
def audit_log(
    gate: RequestGate,
    reads: Reads,
    actor: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    action: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
    since: Annotated[AwareDatetime | None, BeforeValidator(_not_a_number)] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_BIGINT, description="the previous page's last id")
    ] = None,
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
