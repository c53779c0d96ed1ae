"""Compiled regular expressions of `matches`, `=~` / `!~` and Sprig's regex functions.

Argo evaluates them with Go's `regexp`: RE2 syntax and linear-time matching. google-re2 gives
both, so a pattern means what it means on a cluster and no pattern can backtrack for long
(the step budget cannot interrupt a match in progress; linear time makes that unnecessary).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from foredeck.pipeline.exprlang.errors import ExprError

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would otherwise print parse errors to stderr itself


@lru_cache(maxsize=256)
def regex(pattern: str) -> Any:
    """The compiled `pattern` (a google-re2 object with `re`'s methods)."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", errors="replace")
        raise ExprError(f"invalid regular expression {pattern!r}: {reason}") from None
