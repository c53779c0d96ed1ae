"""Inline SVG charts for the job history, rendered on the server (no chart library, no script).

Only numbers, ids and fixed state names reach the SVG; everything is escaped all the same.
Colours come from CSS classes (`state-success` ...), since the CSP forbids inline styles.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from foredeck.dashboard.links import format_duration, view_url

BAR_HEIGHT = 24
BAR_WIDTH = 10
TREND_WIDTH = 600
TREND_HEIGHT = 120
PAD = 6


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


def duration_trend(points: Sequence[tuple[int, float | None, str]]) -> Markup:
    """Durations of finished runs (oldest left) as a line with one dot per run."""
    values = [(job_id, secs, state) for job_id, secs, state in points if secs is not None]
    if not values:
        return Markup("")
    top = max(secs for _, secs, _ in values) or 1.0
    span_x = TREND_WIDTH - 2 * PAD
    span_y = TREND_HEIGHT - 2 * PAD
    step = span_x / max(1, len(values) - 1)
    coords = [
        (PAD + i * step, PAD + span_y * (1 - secs / top), job_id, secs, state)
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
        f'aria-label="durations, oldest first; longest {escape(format_duration(top))}">'
        f'<polyline class="trend-line" fill="none" points="{line}"/>{dots}'
        f'<text class="trend-max" x="{PAD}" y="{PAD + 10}">{escape(format_duration(top))}</text>'
        f"</svg>"
    )
