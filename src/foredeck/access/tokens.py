"""Personal API tokens: `fdt_` and 43 URL-safe characters (32 random bytes), kept as their
SHA-256 only. A token acts for its user with the teams and groups they had when it was made,
never above its role, until it expires or is revoked."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from foredeck.access.principal import Principal
from foredeck.config.roles import Role
from foredeck.db.models import ApiToken
from foredeck.db.types import utcnow

PREFIX = "fdt_"
TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 200
HINT_CHARS = 8


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def looks_personal(token: str) -> bool:
    return token.startswith(PREFIX) and len(token) <= MAX_TOKEN_CHARS


class TokenRefused(Exception):
    """The token is unknown, expired or revoked; the message says which (never the token)."""


@dataclass(frozen=True)
class Made:
    row: ApiToken
    token: str
    """The token itself: shown once, never stored."""


def create(
    session: Session,
    *,
    user: str,
    name: str,
    role: Role,
    ttl: timedelta,
    by: Principal,
    teams: frozenset[str] = frozenset(),
    groups: frozenset[str] = frozenset(),
) -> Made:
    """A new token for `user` (the caller commits `session`, under `write_lock`)."""
    token = new_token()
    now = utcnow()
    row = ApiToken(
        token_hash=hash_token(token),
        hint=token[: len(PREFIX) + HINT_CHARS],
        user=user,
        name=name,
        role=role,
        teams=sorted(teams),
        groups=sorted(groups),
        created_by=by.name,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    session.flush()
    return Made(row, token)


def principal_of(session: Session, token: str, *, cookie: bool = False) -> Principal:
    """The principal a personal token stands for; raises `TokenRefused` when it may not."""
    digest = hash_token(token)
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == digest)).scalar()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise TokenRefused("unknown API token")
    if row.revoked_at is not None:
        raise TokenRefused(f"API token {row.hint}... (id {row.id}) was revoked")
    if row.expires_at <= utcnow():
        raise TokenRefused(f"API token {row.hint}... (id {row.id}) expired at {row.expires_at}")
    role: Role = row.role  # type: ignore[assignment]  # written by `create` only
    return Principal(
        name=row.user,
        via="session" if cookie else "token",
        teams=frozenset(row.teams),
        groups=frozenset(row.groups),
        cap=role,
        token_id=row.id,
        expires_at=row.expires_at,
        from_cookie=cookie,
    )


def listed(session: Session, user: str | None, *, limit: int = 500) -> list[ApiToken]:
    """Tokens newest first: `user`'s, or everyone's with None."""
    stmt = select(ApiToken).order_by(ApiToken.id.desc()).limit(limit)
    if user is not None:
        stmt = stmt.where(ApiToken.user == user)
    return list(session.execute(stmt).scalars())


def revoke(session: Session, token_id: int) -> ApiToken | None:
    """Mark token `token_id` revoked (kept, so that the audit log still names it)."""
    row = session.get(ApiToken, token_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


LOGIN_MAKER = "login:"
"""`created_by` of the tokens a dashboard login makes (`login:oidc`, `login:github`): a logout
revokes those, never a personal token someone signed in with."""


def create_login(
    session: Session,
    who: Principal,
    ttl: timedelta,
) -> Made:
    """The session token of a login through `who.via` (an OIDC provider or GitHub): it acts
    with the teams and groups the provider gave, capped at nothing below the roles file."""
    maker = Principal(f"{LOGIN_MAKER}{who.via}", who.via)
    return create(
        session,
        user=who.name,
        name=f"sign-in ({who.via})",
        role="admin",
        ttl=ttl,
        by=maker,
        teams=who.teams,
        groups=who.groups,
    )


def end_login(session: Session, token_id: int) -> bool:
    """Revoke the session token `token_id` if a login made it; whether it did."""
    row = session.get(ApiToken, token_id)
    if row is None or not row.created_by.startswith(LOGIN_MAKER):
        return False
    revoke(session, token_id)
    return True
