"""The job page's duration trend: axes with round ticks from zero, run numbers below."""

from __future__ import annotations

import re

from foredeck.dashboard.charts import duration_trend, nice_ticks


def test_ticks_are_round_and_cover_the_longest() -> None:
    assert nice_ticks(40) == [0, 10, 20, 30, 40]
    assert nice_ticks(0.35) == [0, 0.1, 0.2, 0.3, 0.4]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(600) == [0, 300, 600]  # whole minutes
    assert nice_ticks(5 * 3600)[-1] >= 5 * 3600
    assert nice_ticks(0) == [0, 1]


def test_trend_has_labelled_axes() -> None:
    svg = str(duration_trend([(1, 10.0, "success"), (2, 40.0, "failure"), (3, None, "pending")]))
    assert re.findall(r'class="axis-label y-label"[^>]*>([^<]+)<', svg) == [
        "0s",
        "10s",
        "20s",
        "30s",
        "40s",
    ]
    assert re.findall(r'class="axis-label x-label"[^>]*>([^<]+)<', svg) == ["#1", "#2"]
    assert "runs, oldest left" in svg and ">run time<" in svg
    assert re.findall(r'<circle class="state-(\w+)" cx="([\d.]+)" cy="([\d.]+)"', svg) == [
        ("success", "56.0", "102.5"),
        ("failure", "588.0", "20.0"),
    ]
    single = str(duration_trend([(5, 0.25, "success")]))
    assert "#5" in single and "250ms" in single
