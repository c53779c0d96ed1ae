"""Regular expressions with Go's syntax and RE2's linear-time matching.

Prow compiles `trigger`, `branches`, `run_if_changed` and friends with Go's `regexp` (RE2 syntax,
unanchored `MatchString`). Using RE2 here keeps the syntax identical and, because in-repo config
comes from untrusted pull requests, rules out catastrophic backtracking on the webhook path.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol, cast

import re2


class Matcher(Protocol):
    """The part of a compiled pattern that matching needs."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str) -> object | None: ...


class RegexError(ValueError):
    """A pattern Go's `regexp.Compile` would refuse."""


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would otherwise print parse errors to stderr itself


@lru_cache(maxsize=16384)
def compile_go_regex(pattern: str) -> Matcher:
    """Compile `pattern` once: jobs keep their patterns as text and look the compiled form up here
    (many jobs share branch and file patterns; one event only needs one repository's)."""
    try:
        return cast(Matcher, re2.compile(pattern, _OPTIONS))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", errors="replace")
        raise RegexError(f"invalid regular expression {pattern!r}: {reason}") from None
