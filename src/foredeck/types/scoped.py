"""Settings given per organisation or repository (`repos: {org: ..., org/repo: ...}`), as the
trigger, the chat-op plugins and Tide read them: the most specific entry that sets a value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

E = TypeVar("E")
V = TypeVar("V")


def per_repo(
    entries: Mapping[str, E], org: str, repo: str, pick: Callable[[E], V | None]
) -> V | None:
    """What `pick` reads from the entry of `org/repo`, else from that of `org` (names compared
    without case); None when neither entry sets it (the caller's default applies)."""
    for key in (f"{org}/{repo}", org):
        for name, entry in entries.items():
            if name.lower() == key.lower():
                value = pick(entry)
                if value is not None:
                    return value
    return None


def check_scope_keys(entries: Mapping[str, E]) -> Mapping[str, E]:
    """`entries` when every key is `org` or `org/repo` (a settings validator); else ValueError
    naming the first key that is neither."""
    for key in entries:
        if not key or key.count("/") > 1 or key.startswith("/") or key.endswith("/"):
            raise ValueError(f"key {key!r} must be 'org' or 'org/repo'")
    return entries
