"""Making, listing and revoking personal tokens as a caller may (the API's `/api/tokens` and
the dashboard's tokens page share these rules).

A signed-in user manages their own tokens; an admin (of `*`) anyone's. A token's role is never
above its owner's (for one's own token: what the caller may do now), and it never outlives the
token that makes it. Every change is in the audit log, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import HTTPException
from sqlalchemy.orm import Session

from foredeck.access import audit, tokens
from foredeck.access.gate import Gate
from foredeck.access.principal import Principal
from foredeck.config.roles import TEAM_PATTERN, Role, at_least
from foredeck.db.models import ApiToken
from foredeck.db.types import utcnow

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class TokenOrder:
    """What a caller asks for (validated by the API's or the form's model)."""

    name: str
    role: Role
    days: int | None = None
    user: str | None = None
    teams: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


def _owner(order: TokenOrder, gate: Gate) -> Principal:
    """Who the new token acts for, once the caller may make it."""
    who = gate.who
    gate.require_user("make API tokens")
    if order.user is None or (who.via != "bootstrap" and order.user == who.name):
        if who.via == "bootstrap":
            raise HTTPException(422, "the bootstrap token is nobody: name the token's `user`")
        if order.teams or order.groups:
            raise HTTPException(422, "teams and groups of one's own token come from one's login")
        return Principal(who.name, "token", who.teams, who.groups, cap=who.cap)
    gate.require_admin("make API tokens for other users")
    for team in order.teams:
        if not TEAM_PATTERN.match(team):
            raise HTTPException(422, f"{team!r} is not a GitHub team as `org/team`")
    return Principal(order.user, "token", frozenset(order.teams), frozenset(order.groups))


def _life(days: int | None, max_days: int, maker: Principal) -> timedelta:
    """How long a new token lives: never past `max_days`, nor past the token making it."""
    if days is not None and days > max_days:
        raise HTTPException(422, f"days: at most {max_days} (api.max_token_days)")
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


def make(session: Session, gate: Gate, order: TokenOrder, max_days: int) -> tokens.Made:
    """A new token as `order` asks, or 401/403/422 saying why not (the caller commits)."""
    owner = _owner(order, gate)
    could = gate.access.highest(owner)
    if gate.who.via != "bootstrap" and gate.who.name == owner.name:
        could = gate.access.highest(gate.who)
    if not at_least(could, order.role):
        raise HTTPException(
            403,
            f"a token of {owner.name} may not be {order.role}: {owner.name} has "
            f"{could or 'no role'}",
        )
    ttl = _life(order.days, max_days, gate.who)
    made = tokens.create(
        session,
        user=owner.name,
        name=order.name,
        role=order.role,
        ttl=ttl,
        by=gate.who,
        teams=owner.teams,
        groups=owner.groups,
    )
    target = f"token {made.row.id}"
    audit.record(session, gate.who, "token.create", target, user=owner.name, role=order.role)
    return made


def listed(session: Session, gate: Gate, user: str | None, everyone: bool) -> list[ApiToken]:
    """The caller's tokens; an admin's choice of `user`'s or `everyone`'s."""
    gate.require_user("list API tokens")
    if everyone or (user is not None and user != gate.who.name):
        gate.require_admin("list other users' API tokens")
    return tokens.listed(session, None if everyone else (user or gate.who.name))


def revoke(session: Session, gate: Gate, token_id: int) -> ApiToken:
    """Revoke one's own token (an admin: anyone's); 404 without it."""
    gate.require_user("revoke API tokens")
    row = session.get(ApiToken, token_id)
    if row is None:
        raise HTTPException(404, f"no API token {token_id}")
    if row.user != gate.who.name or gate.who.via == "bootstrap":
        gate.require_admin("revoke other users' API tokens")
    if row.revoked_at is None:
        tokens.revoke(session, token_id)
        audit.record(session, gate.who, "token.revoke", f"token {token_id}", user=row.user)
    return row
