"""Inline SVG charts for the job history, rendered on the server (no chart library, no script).

Only numbers, ids and fixed state names reach the SVG; everything is escaped all the same.
Colours come from CSS classes (`state-success` ...), since the CSP forbids inline styles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

from foredeck.dashboard.links import format_duration, view_url

BAR_HEIGHT = 24
BAR_WIDTH = 10
TREND_WIDTH = 600
TREND_HEIGHT = 160


def result_bar(results: Sequence[tuple[int, str]]) -> Markup:
    """One coloured cell per run (oldest left), each a link to the run."""
    if not results:
        return Markup("")
    width = BAR_WIDTH * len(results)
    cells = []
    for i, (job_id, state) in enumerate(results):
        cells.append(
            f'<a href="{escape(view_url(job_id))}"><rect class="state-{escape(state)}" '
            f'x="{i * BAR_WIDTH}" y="0" width="{BAR_WIDTH - 1}" height="{BAR_HEIGHT}">'
            f"<title>#{job_id}: {escape(state)}</title></rect></a>"
        )
    return Markup(  # noqa: S704 - every value above is escaped or a number
        f'<svg class="result-bar" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{BAR_HEIGHT}" viewBox="0 0 {width} {BAR_HEIGHT}" role="img" '
        f'aria-label="results, oldest first">{"".join(cells)}</svg>'
    )


NICE_STEPS = (1, 2, 5)
LEFT, BOTTOM, TOP, RIGHT = 56, 30, 20, 12
"""The trend's margins: room for the y-axis labels on the left and the x-axis ones below."""
X_TICKS = 6


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round y-axis values from 0 to at least `top`: steps of 1, 2 or 5 times a power of ten
    (seconds under a minute; above, whole minutes or hours the same way)."""
    if top <= 0:
        return [0.0, 1.0]
    unit = 3600.0 if top >= 3 * 3600 else 60.0 if top >= 180 else 1.0
    raw = top / unit / count
    power = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next((n * power for n in NICE_STEPS if n * power >= raw), 10 * power) * unit
    ticks = [0.0]
    while ticks[-1] < top - 1e-9:
        ticks.append(round(ticks[-1] + step, 6))
    return ticks


def duration_trend(points: Sequence[tuple[int, float | None, str]]) -> Markup:
    """Durations of finished runs (oldest left) as a line with one dot per run, on axes: run
    time (y, from 0, labelled ticks and grid lines) against the runs (x, their numbers)."""
    values = [(job_id, secs, state) for job_id, secs, state in points if secs is not None]
    if not values:
        return Markup("")
    longest = max(secs for _, secs, _ in values)
    ticks = nice_ticks(longest)
    top = ticks[-1] or 1.0
    span_x = TREND_WIDTH - LEFT - RIGHT
    span_y = TREND_HEIGHT - TOP - BOTTOM
    step = span_x / max(1, len(values) - 1)
    single = len(values) == 1

    def y_of(secs: float) -> float:
        return TOP + span_y * (1 - secs / top)

    coords = [
        (LEFT + (span_x / 2 if single else i * step), y_of(secs), job_id, secs, state)
        for i, (job_id, secs, state) in enumerate(values)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y, *_ in coords)
    dots = "".join(
        f'<a href="{escape(view_url(job_id))}"><circle class="state-{escape(state)}" '
        f'cx="{x:.1f}" cy="{y:.1f}" r="3"><title>#{job_id}: '
        f"{escape(format_duration(secs))} ({escape(state)})</title></circle></a>"
        for x, y, job_id, secs, state in coords
    )
    return Markup(  # noqa: S704 - every value above is escaped or a number
        f'<svg class="trend" xmlns="http://www.w3.org/2000/svg" width="{TREND_WIDTH}" '
        f'height="{TREND_HEIGHT}" viewBox="0 0 {TREND_WIDTH} {TREND_HEIGHT}" role="img" '
        f'aria-label="durations, oldest first; longest {escape(format_duration(longest))}">'
        f"{_y_axis(ticks, y_of)}{_x_axis(coords)}"
        f'<polyline class="trend-line" fill="none" points="{line}"/>{dots}'
        f'<text class="trend-max" x="{TREND_WIDTH - RIGHT}" y="11" '
        f'text-anchor="end">longest {escape(format_duration(longest))}</text>'
        f"</svg>"
    )


def _y_axis(ticks: Sequence[float], y_of: Callable[[float], float]) -> str:
    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{y_of(0):.1f}"/>',
        '<text class="axis-title" x="4" y="11">run time</text>',
    ]
    for value in ticks:
        y = y_of(value)
        parts.append(
            f'<line class="grid-line" x1="{LEFT}" y1="{y:.1f}" '
            f'x2="{TREND_WIDTH - RIGHT}" y2="{y:.1f}"/>'
            f'<text class="axis-label y-label" x="{LEFT - 4}" y="{y + 3:.1f}" '
            f'text-anchor="end">{escape(format_duration(value))}</text>'
        )
    return "".join(parts)


def _x_axis(coords: Sequence[tuple[float, float, int, float, str]]) -> str:
    base = TREND_HEIGHT - BOTTOM
    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{TREND_WIDTH - RIGHT}" y2="{base}"/>',
        f'<text class="axis-title" x="{TREND_WIDTH - RIGHT}" y="{TREND_HEIGHT - 2}" '
        f'text-anchor="end">runs, oldest left</text>',
    ]
    every = max(1, math.ceil(len(coords) / X_TICKS))
    for i, (x, _, job_id, _, _) in enumerate(coords):
        if i % every and i != len(coords) - 1:
            continue
        parts.append(
            f'<line class="axis" x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 3}"/>'
            f'<text class="axis-label x-label" x="{x:.1f}" y="{base + 13}" '
            f'text-anchor="middle">#{job_id}</text>'
        )
    return "".join(parts)
