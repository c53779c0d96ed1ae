"""The periodic scheduler (Prow's horologium): creates the runs of the config's periodics.

It remembers when each periodic is next worth a look (`_Tracked.check_at`: its due time, or the
next tick while an overdue periodic waits for its previous run to end) and sleeps until the
earliest one; every `tick` at most it wakes to follow config reloads, which costs nothing when
the config did not change. A look reads the latest runs of just those periodics without taking
the write lock; only when one is due does it open a short write transaction, take the decision
lock, re-read, and create the rows. Rows are keyed `periodic:NAME:SCHEDULED`, so a decision
taken twice (two processes, a restart, a retried tick) still creates one row. The database stays
the truth: a due time only says when to read it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine

from foredeck.config import ConfigAgent, JobConfig, Periodic
from foredeck.db.engine import read_only, session_factory, write_lock
from foredeck.db.jobs import JobCreate, create_job
from foredeck.db.types import utcnow
from foredeck.jobs import PERIODIC_CAUSE, periodic_spec
from foredeck.periodics.runs import latest_runs, lock_decisions
from foredeck.periodics.schedule import (
    Decision,
    LastRun,
    Schedule,
    ScheduleError,
    decide,
    due_time,
    parse_schedule,
)
from foredeck.polling import Poller
from foredeck.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(slots=True)
class _Tracked:
    """What this process remembers of a periodic: when it first saw it (and its schedule)."""

    job: Periodic
    text: str
    schedule: Schedule | None
    """None: the periodic cannot run (logged once per config load)."""
    seen_since: datetime
    changed_at: datetime | None = None
    check_at: datetime | None = None
    """When to look at it next (read its latest run, decide); None: never."""


class PeriodicMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.triggered = Counter(
            "foredeck_periodics_triggered",
            "Periodic runs created.",
            registry=registry,
        )
        self.tick_errors = Counter(
            "foredeck_periodics_tick_errors",
            "Scheduler ticks that failed (database or config trouble).",
            registry=registry,
        )


class PeriodicScheduler:
    def __init__(
        self,
        engine: Engine,
        config: ConfigAgent | Callable[[], JobConfig],
        *,
        tick: float = 1.0,
        now: Clock = utcnow,
        registry: CollectorRegistry | None = None,
        notify: Callable[[], None] | None = None,
    ) -> None:
        self.tick_interval = tick
        self.notify = notify
        """Called after a tick created runs (e.g. to wake the controller)."""
        self._engine = engine
        self._reader = read_only(engine)
        self._sessions = session_factory(engine)
        self._config = config.get if isinstance(config, ConfigAgent) else config
        self._now = now
        self._tracked: dict[str, _Tracked] = {}
        self._seen_config: JobConfig | None = None
        self._next_check: datetime | None = None
        """The earliest `check_at` of all periodics."""
        self._metrics = PeriodicMetrics(registry) if registry is not None else None
        errors = self._metrics.tick_errors.inc if self._metrics is not None else None
        self._poller = Poller("foredeck-periodics", self.tick, self.next_wake, errors)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: Engine,
        *,
        now: Clock = utcnow,
        config: ConfigAgent | None = None,
        registry: CollectorRegistry | None = None,
        notify: Callable[[], None] | None = None,
    ) -> PeriodicScheduler:
        """A scheduler for `settings.config_path` (pass `config` to share a loaded one)."""
        return cls(
            engine,
            config if config is not None else ConfigAgent.from_settings(settings),
            tick=settings.periodics.tick,
            now=now,
            registry=registry,
            notify=notify,
        )

    def start(self) -> threading.Thread:
        """Tick in a daemon thread until `stop()`: now, then after `next_wake()` seconds."""
        return self._poller.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._poller.stop(timeout)

    def next_wake(self, now: datetime | None = None) -> float:
        """Seconds to sleep after a pass at `now`: until the earliest periodic is worth a look,
        at most `tick` (to follow config reloads); `tick` after a pass that failed."""
        if self._next_check is None:
            return self.tick_interval
        at = self._now() if now is None else now
        seconds = (self._next_check - at).total_seconds()
        return self.tick_interval if seconds <= 0 else min(self.tick_interval, seconds)

    def tick(self, now: datetime | None = None) -> list[int]:
        """Create the runs that are due at `now`; returns the ids of the rows created.

        Only periodics whose `check_at` has come are read and evaluated (all of them at first
        sight and after a reload that changed them)."""
        at = self._now() if now is None else now
        self._follow_config(at)
        if self._next_check is None or self._next_check > at:
            return []
        periodics = {
            name: t.job
            for name, t in self._tracked.items()
            if t.check_at is not None and t.check_at <= at
        }
        with self._reader.connect() as conn:
            latest = latest_runs(conn, periodics)
        created: list[int] = []
        if any(self._decide(job, latest.get(name), at) for name, job in periodics.items()):
            created = self._create(periodics, latest, at)
        for name in periodics:
            self._tracked[name].check_at = self._next_look(name, latest.get(name), at)
        self._next_check = _earliest(self._tracked.values())
        if created:
            if self._metrics is not None:
                self._metrics.triggered.inc(len(created))
            if self.notify is not None:
                self.notify()
        return created

    def _create(
        self, periodics: dict[str, Periodic], latest: dict[str, LastRun], at: datetime
    ) -> list[int]:
        """Create the due runs in one write transaction, deciding again on a fresh read;
        `latest` is updated with the runs created."""
        created: list[int] = []
        with write_lock(self._engine), self._sessions() as session, session.begin():
            lock_decisions(session)
            latest.clear()
            latest.update(latest_runs(session, periodics))
            for name, job in periodics.items():
                decision = self._decide(job, latest.get(name), at)
                if decision is None:
                    continue
                row, new = create_job(session, _spec(job, decision), now=at)
                latest[name] = LastRun(row.id, row.state, row.created_at, row.finished_at)
                if new:
                    created.append(row.id)
                    log.info("periodic %s: created run %d (%s)", name, row.id, decision.reason)
        return created

    def _next_look(self, name: str, last: LastRun | None, at: datetime) -> datetime | None:
        """When periodic `name` is next worth a look, after one at `at` whose latest run is
        `last`: its due time; the next tick while it is overdue but its previous run goes on."""
        tracked = self._tracked[name]
        if tracked.schedule is None:
            return None
        due = due_time(
            tracked.schedule, last, seen_since=tracked.seen_since, changed_at=tracked.changed_at
        )
        if due is None or (due <= at and last is not None and not last.finished):
            return at + timedelta(seconds=self.tick_interval)
        return due

    def _follow_config(self, at: datetime) -> None:
        """Track the config's periodics; those new or changed by a reload are looked at now."""
        config = self._config()
        if config is self._seen_config:
            return
        self._seen_config = config
        changed = self._track(config.periodics, at)
        for name in changed:
            tracked = self._tracked[name]
            tracked.check_at = at if tracked.schedule is not None else None
        self._next_check = _earliest(self._tracked.values())

    def _decide(self, job: Periodic, last: LastRun | None, now: datetime) -> Decision | None:
        tracked = self._tracked[job.name]
        if tracked.schedule is None:
            return None
        return decide(
            tracked.schedule,
            last,
            now,
            seen_since=tracked.seen_since,
            changed_at=tracked.changed_at,
        )

    def _track(self, jobs: list[Periodic], now: datetime) -> list[str]:
        """Follow config reloads: remember when each periodic (or its schedule) appeared.
        Returns the names of the periodics that are new or were reloaded."""
        current: dict[str, Periodic] = {}
        for job in jobs:
            current.setdefault(job.name, job)
        for name in self._tracked.keys() - current.keys():
            del self._tracked[name]
        changed: list[str] = []
        for name, job in current.items():
            tracked = self._tracked.get(name)
            if tracked is not None and tracked.job is job:
                continue  # the same config object: nothing was reloaded
            changed.append(name)
            text = f"{job.cron}|{job.interval}|{job.minimum_interval}"
            schedule = self._usable(job)
            if tracked is None:
                self._tracked[name] = _Tracked(job, text, schedule, now)
                continue
            if tracked.text != text:
                tracked.changed_at = now
            tracked.job, tracked.text, tracked.schedule = job, text, schedule
        return changed

    @staticmethod
    def _usable(job: Periodic) -> Schedule | None:
        """The job's schedule, or None (logged) when it cannot run: a bad schedule, or a job
        that does not make a valid row (which would otherwise fail every tick for every job)."""
        try:
            schedule = parse_schedule(job)
            _spec(job, Decision(None, ""))
        except ScheduleError as exc:
            log.error("%s; the periodic will not run", exc)
            return None
        except ValueError as exc:
            log.error(
                "periodic %s: cannot create runs (%s); the periodic will not run", job.name, exc
            )
            return None
        return schedule


def _spec(job: Periodic, decision: Decision) -> JobCreate:
    """The row of the run `decision` asks for, keyed by its scheduled time."""
    return periodic_spec(
        job, decision.reason, cause=PERIODIC_CAUSE, dedupe_key=decision.dedupe_key(job.name)
    )


def _earliest(tracked: Iterable[_Tracked]) -> datetime | None:
    return min((t.check_at for t in tracked if t.check_at is not None), default=None)
