"""The periodic scheduler (Prow's horologium): creates the runs of the config's periodics.

Each tick reads the latest run of every periodic without taking the write lock; only when one
is due does it open a short write transaction, take the decision lock, re-read, and create the
rows. Rows are keyed `periodic:NAME:SCHEDULED`, so a decision taken twice (two processes, a
restart, a retried tick) still creates one row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine

from foredeck.config import JobConfig, Periodic
from foredeck.db.engine import read_only, session_factory, write_lock
from foredeck.db.jobs import create_job
from foredeck.db.types import utcnow
from foredeck.hook.plugins.trigger.central import CentralConfig
from foredeck.periodics.runs import latest_runs, lock_decisions, periodic_spec
from foredeck.periodics.schedule import (
    Decision,
    LastRun,
    Schedule,
    ScheduleError,
    decide,
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


class PeriodicScheduler(Poller):
    def __init__(
        self,
        engine: Engine,
        config: CentralConfig | Callable[[], JobConfig],
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
        self._config = config.get if isinstance(config, CentralConfig) else config
        self._now = now
        self._tracked: dict[str, _Tracked] = {}
        self._init_poller()
        self._metrics = PeriodicMetrics(registry) if registry is not None else None

    # -- the thread (foredeck.polling.Poller) ------------------------------------------------

    _thread_name = "foredeck-periodics"
    _what = "periodic scheduler: tick"

    def _pass(self) -> object:
        return self.tick()

    def _interval(self) -> float:
        return self.tick_interval

    def _failed(self) -> None:
        if self._metrics is not None:
            self._metrics.tick_errors.inc()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: Engine,
        *,
        now: Clock = utcnow,
        config: CentralConfig | None = None,
        registry: CollectorRegistry | None = None,
        notify: Callable[[], None] | None = None,
    ) -> PeriodicScheduler:
        """A scheduler for `settings.config_path` (pass `config` to share a loaded one)."""
        return cls(
            engine,
            config if config is not None else CentralConfig.from_settings(settings),
            tick=settings.periodics.tick,
            now=now,
            registry=registry,
            notify=notify,
        )

    def tick(self, now: datetime | None = None) -> list[int]:
        """Create the runs that are due at `now`; returns the ids of the rows created."""
        at = self._now() if now is None else now
        periodics = self._track(self._config().periodics, at)
        if not periodics:
            return []
        with self._reader.connect() as conn:
            latest = latest_runs(conn, periodics)
        if not any(self._decide(job, latest.get(name), at) for name, job in periodics.items()):
            return []
        created: list[int] = []
        with write_lock(self._engine), self._sessions() as session, session.begin():
            lock_decisions(session)
            latest = latest_runs(session, periodics)
            for name, job in periodics.items():
                decision = self._decide(job, latest.get(name), at)
                if decision is None:
                    continue
                row, new = create_job(session, periodic_spec(job, decision), now=at)
                if new:
                    created.append(row.id)
                    log.info("periodic %s: created run %d (%s)", name, row.id, decision.reason)
        if created:
            if self._metrics is not None:
                self._metrics.triggered.inc(len(created))
            if self.notify is not None:
                self.notify()
        return created

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

    def _track(self, jobs: list[Periodic], now: datetime) -> dict[str, Periodic]:
        """Follow config reloads: remember when each periodic (or its schedule) appeared."""
        current: dict[str, Periodic] = {}
        for job in jobs:
            current.setdefault(job.name, job)
        for name in self._tracked.keys() - current.keys():
            del self._tracked[name]
        for name, job in current.items():
            tracked = self._tracked.get(name)
            if tracked is not None and tracked.job is job:
                continue  # the same config object: nothing was reloaded
            text = f"{job.cron}|{job.interval}|{job.minimum_interval}"
            schedule = self._usable(job)
            if tracked is None:
                self._tracked[name] = _Tracked(job, text, schedule, now)
                continue
            if tracked.text != text:
                tracked.changed_at = now
            tracked.job, tracked.text, tracked.schedule = job, text, schedule
        return current

    @staticmethod
    def _usable(job: Periodic) -> Schedule | None:
        """The job's schedule, or None (logged) when it cannot run: a bad schedule, or a job
        that does not make a valid row (which would otherwise fail every tick for every job)."""
        try:
            schedule = parse_schedule(job)
            periodic_spec(job, Decision(None, ""))
        except ScheduleError as exc:
            log.error("%s; the periodic will not run", exc)
            return None
        except ValueError as exc:
            log.error(
                "periodic %s: cannot create runs (%s); the periodic will not run", job.name, exc
            )
            return None
        return schedule
