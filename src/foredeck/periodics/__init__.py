"""Periodic jobs (Prow's horologium): runs created on a cron or interval schedule."""

from foredeck.periodics.schedule import (
    CronSchedule,
    Decision,
    IntervalSchedule,
    LastRun,
    ScheduleError,
    decide,
    parse_schedule,
)
from foredeck.periodics.scheduler import PeriodicScheduler

__all__ = [
    "CronSchedule",
    "Decision",
    "IntervalSchedule",
    "LastRun",
    "PeriodicScheduler",
    "ScheduleError",
    "decide",
    "parse_schedule",
]
