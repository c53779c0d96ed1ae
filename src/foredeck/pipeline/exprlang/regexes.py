"""Compiled regular expressions of `matches`, `=~` and Sprig's regex functions, cached.

Patterns are written for Go's RE2; Python's `re` reads the common subset the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache

from foredeck.pipeline.exprlang.errors import ExprError


@lru_cache(maxsize=256)
def regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ExprError(f"invalid regular expression {pattern!r}: {exc}") from None
