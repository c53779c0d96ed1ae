"""Go duration strings (`90s`, `1h30m`, `2.5h`), as Prow's config spells every timeout.

Prow parses them with Go's `time.ParseDuration`; the pipeline front ends need the same grammar,
so both share `foredeck.pipeline.durations`. This module only gives config errors their own type.
"""

from __future__ import annotations

from foredeck.pipeline.durations import parse_duration


class DurationError(ValueError):
    """A string that Go's `time.ParseDuration` would refuse."""


def parse_go_duration(text: str) -> float:
    """Seconds in `text`; raises `DurationError` saying why when it is not a Go duration."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise DurationError(str(exc)) from None


def optional_seconds(text: str | None) -> float | None:
    """Seconds in an optional duration field (unset or empty: None)."""
    return parse_go_duration(text) if text else None
