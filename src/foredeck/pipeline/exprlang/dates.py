"""expr-lang's date builtins: `now()`, `date(text[, layout[, zone]])`, `duration(text)`.

As in expr-lang, `now()` is the current time, `date` parses a time (without a layout: RFC 3339,
`2006-01-02T15:04:05`, `2006-01-02 15:04:05` or `2006-01-02`, in UTC unless it says otherwise;
with a Go layout of the usual elements; with a zone name, read in that zone) and `duration`
a Go duration (`1h30m`). Times and durations subtract, add and compare (`time_arithmetic`);
written out they read as Go prints them. Methods of Go's time values (`.Year()`) are not here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from foredeck.pipeline.durations import parse_duration
from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.registry import register

_DEFAULT = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
# Go layout elements as strptime directives, longest first where one is a prefix of another.
_GO_TO_STRPTIME = [
    ("January", "%B"),
    ("Monday", "%A"),
    ("2006", "%Y"),
    ("Z07:00", "%z"),
    ("-07:00", "%z"),
    ("-0700", "%z"),
    ("Jan", "%b"),
    ("Mon", "%a"),
    ("MST", "%Z"),
    ("01", "%m"),
    ("02", "%d"),
    ("15", "%H"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("06", "%y"),
    ("PM", "%p"),
]


def _zone(name: str) -> Any:
    try:
        return UTC if name in ("UTC", "") else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExprError(f"date: unknown time zone {name!r}") from None


def _strptime_format(layout: str) -> str:
    out, pos = [], 0
    while pos < len(layout):
        for element, directive in _GO_TO_STRPTIME:
            if layout.startswith(element, pos):
                out.append(directive)
                pos += len(element)
                break
        else:
            out.append("%%" if layout[pos] == "%" else layout[pos])
            pos += 1
    return "".join(out)


@register("now", 0)
def now() -> datetime:
    return datetime.now(UTC)


@register("duration", 1)
def duration(text: Any) -> timedelta:
    if not isinstance(text, str):
        raise ExprError(f"duration: expected a string, got {type(text).__name__}")
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError as exc:
        raise ExprError(f"duration: {exc}") from None


@register("date", 1, 3)
def date(text: Any, layout: Any = None, zone: Any = "UTC") -> datetime:
    if not isinstance(text, str):
        raise ExprError(f"date: expected a string, got {type(text).__name__}")
    tz = _zone(str(zone))
    value = text.strip()
    formats = _DEFAULT if layout is None else (_strptime_format(str(layout)),)
    if layout is None:
        try:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
        except ValueError:
            pass
    for fmt in formats:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    raise ExprError(f"date: cannot parse {text!r}" + (f" as {layout!r}" if layout else ""))


def time_arithmetic(op: str, a: Any, b: Any) -> Any:
    """`a op b` for times and durations (NotImplemented when neither is one)."""
    if not isinstance(a, datetime | timedelta) and not isinstance(b, datetime | timedelta):
        return NotImplemented
    if op == "-" and isinstance(a, datetime) and isinstance(b, datetime | timedelta):
        return a - b
    if op == "+" and isinstance(a, datetime) and isinstance(b, timedelta):
        return a + b
    if op == "+" and isinstance(a, timedelta) and isinstance(b, datetime | timedelta):
        return b + a
    if op == "-" and isinstance(a, timedelta) and isinstance(b, timedelta):
        return a - b
    return NotImplemented


def comparable_times(a: Any, b: Any) -> bool:
    return (isinstance(a, datetime) and isinstance(b, datetime)) or (
        isinstance(a, timedelta) and isinstance(b, timedelta)
    )


def go_duration(value: timedelta) -> str:
    """Go's `time.Duration.String()`: `1h2m3.5s`, `1.5s`, `0s` (sub-second: `ms`, `µs`)."""
    micros = round(value.total_seconds() * 1_000_000)
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    if micros < 1_000_000:
        unit, scale = ("µs", 1) if micros < 1000 else ("ms", 1000)
        return f"{sign}{_trim(micros / scale)}{unit}"
    hours, rest = divmod(micros, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds = _trim(rest / 1_000_000)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(number: float) -> str:
    text = f"{number:.9f}".rstrip("0").rstrip(".")
    return text or "0"
