"""The roles of `foredeck serve` (a module of its own: the CLI reads it without importing the
server stack)."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal[
    "all", "hook", "worker", "controller", "reporter", "periodics", "sinker", "tide", "watcher"
]
ROLES: tuple[Role, ...] = get_args(Role)
HTTP_ROLES: frozenset[Role] = frozenset({"all", "hook"})
