from __future__ import annotations

import pytest

from foredeck.pipeline.durations import parse_duration, parse_timeout


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("300ms", 0.3),
        ("2m3.5s", 123.5),
        ("1h0m0s", 3600.0),
        ("0", 0.0),
        ("-5s", -5.0),
        ("+5s", 5.0),
        ("1us", 1e-6),
        ("1µs", 1e-6),  # Go's micro sign
        ("100ns", 1e-7),
        (".5m", 30.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "10 s", "1d", "h", "1h 30m", "ten seconds", "1.2.3s"])
def test_invalid_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_non_string_duration_is_an_error() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_duration(10)  # type: ignore[arg-type]


def test_timeout_zero_means_none_and_negative_is_rejected() -> None:
    assert parse_timeout("0") is None
    assert parse_timeout("0s") is None
    assert parse_timeout("90s") == 90.0
    with pytest.raises(ValueError, match="negative"):
        parse_timeout("-1m")
