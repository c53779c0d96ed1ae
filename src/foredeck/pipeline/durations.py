"""Go `time.ParseDuration` syntax ("1h30m", "10s", "1.5h", "300ms"), as Tekton and Argo use it.

Kept exact so that a timeout accepted here is one a Kubernetes controller would accept too.
"""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_WHOLE = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration; `ValueError` naming the problem when it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string like '1h30m', got {text!r}")
    value = text.strip()
    if value in ("0", "+0", "-0"):
        return 0.0
    if not _WHOLE.fullmatch(value):
        raise ValueError(f"invalid duration {text!r} (expected Go syntax such as '1h30m' or '10s')")
    sign = -1.0 if value.startswith("-") else 1.0
    total = sum(float(num) * _UNITS[unit] for num, unit in _PART.findall(value))
    return sign * total


def parse_timeout(text: str) -> float | None:
    """A timeout in seconds; "0" means none (Tekton's convention), negative is an error."""
    seconds = parse_duration(text)
    if seconds < 0:
        raise ValueError(f"timeout {text!r} is negative")
    return None if seconds == 0 else seconds
