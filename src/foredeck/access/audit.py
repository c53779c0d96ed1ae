"""The audit log: who did what and when (docs/access.md). Entries are written in the same
transaction as what they record, so that a rolled-back action leaves no entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from foredeck.access.principal import Principal
from foredeck.db.models import AuditEntry
from foredeck.db.types import utcnow

Action = Literal[
    "job.start",
    "job.rerun",
    "job.abort",
    "token.create",
    "token.revoke",
    "roles.reload",
    "config.reload",
    "pull.comment",
    "login",
    "logout",
]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]
MAX_TARGET = 255


def record(
    session: Session,
    who: Principal,
    action: Action,
    target: str | None = None,
    **detail: Any,
) -> AuditEntry:
    """Add an entry to `session` (committed with it)."""
    entry = AuditEntry(
        at=utcnow(),
        actor=who.name[:100],
        via=who.via,
        action=action,
        target=None if target is None else target[:MAX_TARGET],
        detail={**detail, **({"token_id": who.token_id} if who.token_id is not None else {})},
    )
    session.add(entry)
    return entry


def entries(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries newest first, filtered; `before_id` is the last id of the previous page."""
    stmt = select(AuditEntry)
    if actor is not None:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.execute(stmt.order_by(AuditEntry.id.desc()).limit(limit)).scalars())
