"""When a periodic is due: pure functions of its schedule, its last run and the time.

Horologium's rules, with the previous run read from the database instead of memory:

- `interval`: due `interval` after the previous run was *created* (Prow's `StartTime`), and only
  once it finished; a periodic that never ran is due at once.
- `minimum_interval`: due `minimum_interval` after the previous run *finished*; never ran: at once.
- `cron` (UTC unless a `TZ=`/`CRON_TZ=` prefix names a zone): due at the first slot after the
  previous run was created (or after the scheduler first saw the job, when it never ran), and
  only once the previous run finished. Slots missed meanwhile (a long run, a stopped process)
  make it fire once, for the latest missed slot. `@every DUR` behaves as `interval: DUR`.

Every decision carries the scheduled time that names the run (`periodic:NAME:TIME`), which is
the same in every process that looks at the same database, so that two schedulers (or one
restarted) cannot create the same run twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from foredeck.config import Periodic, parse_go_duration
from foredeck.db.models import FINISHED_STATES
from foredeck.jobs import periodic_key


class ScheduleError(ValueError):
    """A periodic whose schedule cannot be evaluated (the config loader normally refuses it)."""


@dataclass(frozen=True, slots=True)
class LastRun:
    """What the scheduler needs to know about a periodic's most recent run."""

    id: int
    state: str
    created_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


@dataclass(frozen=True, slots=True)
class CronSchedule:
    expr: str
    """The cron expression as croniter reads it (`?` as `*`, no zone prefix)."""
    text: str
    """As written in the config, for messages."""
    zone: ZoneInfo | None = None
    seconds: bool = False
    """Six fields: the first one is seconds (robfig/cron's `SecondOptional`)."""

    def _iter(self, start: datetime) -> croniter:
        local = start.astimezone(self.zone) if self.zone is not None else start.astimezone(UTC)
        return croniter(self.expr, local, second_at_beginning=self.seconds)

    def next_after(self, t: datetime) -> datetime:
        """The first slot strictly after `t`."""
        value: datetime = self._iter(t).get_next(datetime)
        return value.astimezone(UTC)

    def latest_at_or_before(self, t: datetime) -> datetime:
        """The last slot at or before `t`."""
        prev: datetime = self._iter(t).get_prev(datetime)
        candidate = self.next_after(prev)
        return candidate if candidate <= t else prev.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class IntervalSchedule:
    seconds: float
    text: str
    kind: str
    """`interval` (from the previous start) or `minimum_interval` (from the previous finish)."""


Schedule = CronSchedule | IntervalSchedule


def parse_schedule(job: Periodic) -> Schedule:
    """The schedule of `job`; raises `ScheduleError` saying why it cannot be used."""
    try:
        if job.cron:
            return _parse_cron(job.cron)
        if job.interval:
            return IntervalSchedule(parse_go_duration(job.interval), job.interval, "interval")
        if job.minimum_interval:
            return IntervalSchedule(
                parse_go_duration(job.minimum_interval), job.minimum_interval, "minimum_interval"
            )
    except ValueError as exc:
        raise ScheduleError(f"periodic {job.name}: {exc}") from None
    raise ScheduleError(f"periodic {job.name}: no cron, interval or minimum_interval")


def _parse_cron(text: str) -> Schedule:
    expr = text.strip()
    zone: ZoneInfo | None = None
    if expr.startswith(("TZ=", "CRON_TZ=")):
        spec, _, expr = expr.partition(" ")
        try:
            zone = ZoneInfo(spec.split("=", 1)[1])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone in cron {text!r}: {exc}") from None
        expr = expr.strip()
    if expr.startswith("@every "):
        return IntervalSchedule(parse_go_duration(expr[len("@every ") :]), text, "interval")
    fields = expr.replace("?", "*").split()
    seconds = len(fields) == 6
    normalized = " ".join(fields)
    if not croniter.is_valid(normalized, second_at_beginning=seconds):
        raise ValueError(f"invalid cron string {text!r}")
    return CronSchedule(normalized, text, zone, seconds)


@dataclass(frozen=True, slots=True)
class Decision:
    """A run to create now."""

    scheduled: datetime | None
    """The time the run stands for; None for the first run of an interval periodic."""
    reason: str

    def dedupe_key(self, name: str) -> str:
        """The run's key, `periodic:NAME:SCHEDULED` (`first` for an interval's first run)."""
        return periodic_key(name, "first" if self.scheduled is None else iso(self.scheduled))


def iso(t: datetime) -> str:
    """`2026-01-02T03:04:05Z` (whole seconds: the key must not depend on sub-second noise)."""
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


AT_ONCE = datetime.min.replace(tzinfo=UTC)
"""The due time of an interval periodic that never ran."""


def due_time(
    schedule: Schedule,
    last: LastRun | None,
    *,
    seen_since: datetime,
    changed_at: datetime | None = None,
) -> datetime | None:
    """When the next run is due, whether or not the previous one still runs (`decide` waits for
    it): `AT_ONCE` for an interval periodic that never ran, None for a `minimum_interval` one
    whose previous run has not finished (it counts from that finish).

    `seen_since`: when this process first saw the periodic (a cron periodic that never ran
    waits for its first slot after that). `changed_at`: when this process saw its schedule
    change, so that a new cron expression does not count slots from before the change.
    """
    if isinstance(schedule, IntervalSchedule):
        if last is None:
            return AT_ONCE
        if schedule.kind == "minimum_interval":
            if not last.finished:
                return None
            ref = last.finished_at or last.created_at
        else:
            ref = last.created_at
        return ref + timedelta(seconds=schedule.seconds)
    baseline = last.created_at if last is not None else seen_since
    if changed_at is not None:
        baseline = max(baseline, changed_at)
    return schedule.next_after(baseline)


def decide(
    schedule: Schedule,
    last: LastRun | None,
    now: datetime,
    *,
    seen_since: datetime,
    changed_at: datetime | None = None,
) -> Decision | None:
    """The run to create at `now`, or None (see `due_time` for `seen_since`, `changed_at`)."""
    if last is not None and not last.finished:
        return None  # never overlap runs
    due = due_time(schedule, last, seen_since=seen_since, changed_at=changed_at)
    if due is None or due > now:
        return None
    if isinstance(schedule, IntervalSchedule):
        label = f"{schedule.kind} {schedule.text}"
        if last is None:
            return Decision(None, f"{label}: first run")
        return Decision(due, f"{label}: scheduled {iso(due)}")
    slot = schedule.latest_at_or_before(now)
    return Decision(slot, f"cron {schedule.text}: scheduled {iso(slot)}")
