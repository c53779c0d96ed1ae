"""Where a job runs and its limits (its pipeline is `foredeck.jobs.build_run`'s)."""

from __future__ import annotations

from dataclasses import dataclass

from foredeck.config import JobBase
from foredeck.config.durations import DurationError, parse_go_duration
from foredeck.db.models import Job


def job_agent(job: Job) -> str:
    """The agent the job asked for: the row's column, else its config snapshot's (which
    executor that is: `foredeck.execute.executors`)."""
    return (job.agent or str((job.job_config or {}).get("agent") or "")).strip()


@dataclass(frozen=True)
class Limits:
    timeout: float
    timeout_text: str
    grace: float


def _duration(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parse_go_duration(text)
    except DurationError:
        return None


def format_seconds(seconds: float) -> str:
    """`1h30m`, `45s`, `0.5s`: short, Go-like."""
    if seconds < 60 or seconds != int(seconds):
        return f"{seconds:g}s"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs else "")


def limits(model: JobBase, default_timeout: float, default_grace: float) -> Limits:
    """`decoration_config.timeout` / `grace_period`, else the controller's defaults."""
    dc = model.decoration_config
    raw_timeout = dc.timeout if dc is not None else None
    timeout = _duration(raw_timeout)
    grace = _duration(dc.grace_period if dc is not None else None)
    grace_seconds = default_grace if grace is None else grace
    if timeout is None or timeout <= 0:
        return Limits(default_timeout, format_seconds(default_timeout), grace_seconds)
    return Limits(timeout, raw_timeout or format_seconds(timeout), grace_seconds)
