"""The event a plugin receives: a logged delivery, its payload loaded and parsed on first use.

Plugins usually decide from `event`/`action` alone; those that ignore an event never pay for
reading and parsing its ~25 KB body.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from foredeck.scm.github_types import TypedPayload, parse_payload


class StoredEvent:
    """One logged delivery as handed to plugins (read-only by convention)."""

    __slots__ = (
        "_loader",
        "_payload",
        "_raw",
        "action",
        "attempts",
        "delivery_id",
        "event",
        "id",
        "org",
        "received_at",
        "repo",
    )

    def __init__(
        self,
        *,
        id: int,
        delivery_id: str,
        event: str,
        action: str | None,
        org: str | None,
        repo: str | None,
        raw: bytes | None = None,
        loader: Callable[[], bytes] | None = None,
        received_at: datetime,
        attempts: int = 0,
    ) -> None:
        if raw is None and loader is None:
            raise ValueError("StoredEvent needs the raw payload or a loader for it")
        self.id = id
        self.delivery_id = delivery_id
        self.event = event
        """The `X-GitHub-Event` header: `pull_request`, `push`, `issue_comment`, ..."""
        self.action = action
        self.org = org
        self.repo = repo
        self._raw = raw
        self._loader = loader
        self.received_at = received_at
        self.attempts = attempts
        """How many times processing was attempted before (0 on the first try)."""
        self._payload: dict[str, Any] | None = None

    @property
    def raw(self) -> bytes:
        """The JSON document as GitHub sent it (read from the log when first asked for)."""
        if self._raw is None:
            assert self._loader is not None
            self._raw = self._loader()
        return self._raw

    @property
    def payload(self) -> dict[str, Any]:
        """The parsed JSON payload (parsed once, when a plugin first asks)."""
        if self._payload is None:
            loaded = orjson.loads(self.raw)
            if not isinstance(loaded, dict):
                raise ValueError("logged payload is not a JSON object")
            self._payload = loaded
        return self._payload

    def typed(self) -> TypedPayload | None:
        """The payload as a typed model (`PullRequestEvent`, `PushEvent`, ...), if there is one."""
        return parse_payload(self.event, self.payload)

    def __repr__(self) -> str:
        return (
            f"StoredEvent(id={self.id}, delivery_id={self.delivery_id!r}, event={self.event!r}, "
            f"action={self.action!r}, repo={self.org}/{self.repo})"
        )
