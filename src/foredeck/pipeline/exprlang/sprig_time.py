"""Sprig's clock, dates and random values: `sprig.now`, `sprig.date(layout, t)`, `uuidv4` ...

Dates are formatted with Go layouts (`2006-01-02T15:04:05Z07:00`). As in Sprig, `date` formats
a time value or Unix seconds; anything else (a string such as `{{workflow.creationTimestamp}}`)
formats the current time. These are the only functions whose value is not a function of their
arguments, so an expression using them is never evaluated at load time.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.registry import register
from foredeck.pipeline.exprlang.sprig import text, to_int

F = TypeVar("F", bound=Callable[..., Any])
_ZERO = timedelta(0)
NONDETERMINISTIC = frozenset(
    {"sprig.now", "sprig.date", "sprig.dateInZone", "sprig.htmlDate", "sprig.htmlDateInZone"}
    | {"sprig.uuidv4", "sprig.randAlphaNum", "sprig.randAlpha", "sprig.randNumeric"}
    | {"sprig.randAscii", "sprig.unixEpoch", "now"}  # `now`: expr-lang's (`dates.py`)
)
MAX_RANDOM = 4096

# Go layout elements, longest first where one is a prefix of another.
_LAYOUT: list[tuple[str, Callable[[datetime], str]]] = [
    ("January", lambda t: t.strftime("%B")),
    ("Monday", lambda t: t.strftime("%A")),
    ("2006", lambda t: f"{t.year:04d}"),
    ("-07:00", lambda t: _offset(t, ":")),
    ("-0700", lambda t: _offset(t, "")),
    ("Z07:00", lambda t: "Z" if t.utcoffset() == _ZERO else _offset(t, ":")),
    ("Z0700", lambda t: "Z" if t.utcoffset() == _ZERO else _offset(t, "")),
    (".000", lambda t: f".{t.microsecond // 1000:03d}"),
    ("Jan", lambda t: t.strftime("%b")),
    ("Mon", lambda t: t.strftime("%a")),
    ("MST", lambda t: t.tzname() or "UTC"),
    ("01", lambda t: f"{t.month:02d}"),
    ("02", lambda t: f"{t.day:02d}"),
    ("_2", lambda t: f"{t.day:2d}"),
    ("03", lambda t: f"{(t.hour % 12) or 12:02d}"),
    ("04", lambda t: f"{t.minute:02d}"),
    ("05", lambda t: f"{t.second:02d}"),
    ("06", lambda t: f"{t.year % 100:02d}"),
    ("15", lambda t: f"{t.hour:02d}"),
    ("PM", lambda t: "PM" if t.hour >= 12 else "AM"),
    ("pm", lambda t: "pm" if t.hour >= 12 else "am"),
    ("1", lambda t: str(t.month)),
    ("2", lambda t: str(t.day)),
    ("3", lambda t: str((t.hour % 12) or 12)),
    ("4", lambda t: str(t.minute)),
    ("5", lambda t: str(t.second)),
]


def _offset(t: datetime, sep: str) -> str:
    delta = t.utcoffset() or _ZERO
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{sep}{mins:02d}"


def go_time_format(t: datetime, layout: str) -> str:
    """`t.Format(layout)` for Go's layout elements."""
    out: list[str] = []
    pos = 0
    while pos < len(layout):
        for element, render in _LAYOUT:
            if layout.startswith(element, pos):
                out.append(render(t))
                pos += len(element)
                break
        else:
            out.append(layout[pos])
            pos += 1
    return "".join(out)


def _reg(name: str, low: int, high: int | None = -1) -> Callable[[F], F]:
    return register("sprig." + name, low, high)


def _time(value: Any, zone: str = "UTC") -> datetime:
    try:
        tz = ZoneInfo(zone) if zone not in ("UTC", "Local") else UTC
    except (ZoneInfoNotFoundError, ValueError):
        raise ExprError(f"sprig: unknown time zone {zone!r}") from None
    if isinstance(value, datetime):
        return value.astimezone(tz)
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz)
    return datetime.now(tz)  # Sprig formats the current time for any other value


_reg("now", 0)(lambda: datetime.now(UTC))
_reg("date", 2)(lambda layout, t: go_time_format(_time(t), text(layout)))
_reg("dateInZone", 3)(lambda layout, t, z: go_time_format(_time(t, text(z)), text(layout)))
_reg("htmlDate", 1)(lambda t: go_time_format(_time(t), "2006-01-02"))
_reg("htmlDateInZone", 2)(lambda t, z: go_time_format(_time(t, text(z)), "2006-01-02"))
_reg("unixEpoch", 1)(lambda t: str(int(_time(t).timestamp())))
_reg("uuidv4", 0)(lambda: str(uuid.uuid4()))


def _random(alphabet: str, n: Any) -> str:
    count = to_int(n)
    if not 0 <= count <= MAX_RANDOM:
        raise ExprError(f"sprig: random string length must be 0..{MAX_RANDOM}")
    return "".join(secrets.choice(alphabet) for _ in range(count))


_reg("randAlphaNum", 1)(lambda n: _random(string.ascii_letters + string.digits, n))
_reg("randAlpha", 1)(lambda n: _random(string.ascii_letters, n))
_reg("randNumeric", 1)(lambda n: _random(string.digits, n))
_reg("randAscii", 1)(lambda n: _random("".join(chr(c) for c in range(32, 127)), n))
