"""Build the components of one `foredeck serve` process for a role.

`all` runs everything (the embedded setup): the event worker in a child process of its own
(`serve.worker_process`), the rest in this one. Every other role runs one part, so that a
larger installation can spread them over processes and machines that share a PostgreSQL
database. Every component is imported here: one that is missing or broken stops the start.

Wiring between components is a hint, never a dependency: each one also polls the database, so
a process running only the controller still sees jobs that another process's worker created.
- the hook wakes the event worker after each logged event (the hook app does that itself);
- the event worker wakes the controller after events were handled (new jobs);
- the periodic scheduler wakes the controller after it created runs;
- Tide (the merge pool) wakes the controller after it started retests or batches;
- the controller wakes the reporter on job state changes;
- the API wakes the controller and the reporter after it created or aborted a job;
- the local SCM watcher wakes the event worker after it logged events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from foredeck.api.auth import write_access_note
from foredeck.config import ConfigAgent
from foredeck.controller import Controller
from foredeck.db.migrate import open_database
from foredeck.hook.plugins import Plugin, load_plugins
from foredeck.hook.worker import EventWorker, Worker
from foredeck.leases import LeaseKeeper, LeaseService
from foredeck.leases.metrics import LeaseCollector
from foredeck.periodics import PeriodicScheduler
from foredeck.report import Reporter
from foredeck.scm.provider import ScmProvider
from foredeck.scm.providers import provider_from_settings
from foredeck.serve.app import Component, create_service_app
from foredeck.serve.roles import HTTP_ROLES, ROLES, Role
from foredeck.serve.worker_process import WorkerProcess
from foredeck.settings import Settings
from foredeck.sinker import Sinker
from foredeck.tide import Tide

log = logging.getLogger(__name__)

TRIGGER_PLUGIN = "foredeck.hook.plugins.trigger:create"

Callback = Callable[[], None]


class NotifyingWorker(Worker):
    """The event worker, waking other components after it handled events (which may have
    created jobs): the controller then starts them without waiting for its next poll."""

    def __init__(self, *args: Any, after_batch: Sequence[Callback] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after_batch = list(after_batch)

    def process_batch(self, limit: int | None = None) -> int:
        handled = super().process_batch(limit)
        if handled:
            for callback in self.after_batch:
                _safely(callback)
        return handled


@dataclass
class Service:
    """What one process runs: an app (roles with HTTP) and the components beside it."""

    role: Role
    settings: Settings
    engine: Engine
    registry: CollectorRegistry
    components: list[Component] = field(default_factory=list)
    """In start order; stopped in reverse. The worker, when any, is first."""
    app: FastAPI | None = None
    worker: NotifyingWorker | None = None
    """The event worker when it runs in this process."""
    worker_process: WorkerProcess | None = None
    """The event worker's child process (role `all`)."""

    def start(self) -> None:
        """Start the components (roles without HTTP; an app starts them in its lifespan)."""
        started: list[Component] = []
        try:
            for component in self.components:
                component.start()
                started.append(component)
        except BaseException:
            _stop_all(started)
            raise

    def stop(self) -> None:
        _stop_all(self.components)
        self.engine.dispose()


def build_service(settings: Settings, role: Role = "all") -> Service:
    """Migrate the database and build what `role` runs (nothing starts yet).

    Raises `DatabaseUnavailable` (one line) when the database cannot be opened or migrated.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    engine = open_database(settings.database_url)
    try:
        return _assemble(settings, role, engine)
    except BaseException:
        engine.dispose()
        raise


def _assemble(settings: Settings, role: Role, engine: Engine) -> Service:
    registry = CollectorRegistry()
    service = Service(role, settings, engine, registry)
    central = ConfigAgent.from_settings(settings) if settings.config_path else None
    scm = provider_from_settings(settings, engine)

    def wants(part: Role) -> bool:
        return role == "all" or role == part

    reporter = controller = None
    if wants("reporter") and settings.reporter.enabled:
        reporter = _reporter(settings, engine, registry, scm)
    if wants("controller") and settings.controller.enabled:
        notify_reporter = reporter.notify if reporter is not None else None
        controller = Controller.from_settings(
            settings, engine, registry=registry, on_state_change=notify_reporter
        )
    wake_controller = [controller.notify] if controller is not None else []
    worker: EventWorker | None = None
    if wants("worker") and settings.worker.enabled:
        worker = _worker(settings, role, engine, registry, wake_controller)
    # The reporter starts before the controller so that it stops after it: the final states
    # of jobs the controller ends at shutdown still get reported.
    others: list[Component | None] = [reporter, controller]
    if wants("periodics") and settings.periodics.enabled:
        if central is None:
            log.info("periodics: no config_path, so no periodic jobs to schedule")
        else:
            others.append(
                PeriodicScheduler.from_settings(
                    settings,
                    engine,
                    config=central,
                    registry=registry,
                    notify=_fan_out(wake_controller),
                )
            )
    if wants("sinker") and settings.sinker.enabled:
        others.append(Sinker.from_settings(settings, engine, registry=registry))
    if wants("tide") and settings.tide.enabled:
        if central is None:
            log.info("tide: no config_path, so no merge pool")
        else:
            wake = _fan_out(wake_controller)
            others.append(
                Tide.from_settings(
                    settings, engine, central, scm, registry=registry, on_started=wake
                )
            )
    if wants("controller") and settings.leases.types:
        # The reaper, cleaners and janitor of leases (docs/leases.md), beside the controller.
        others.append(LeaseKeeper(LeaseService(engine, settings.leases)))
        registry.register(LeaseCollector(engine, [t.name for t in settings.leases.types]))
    if wants("watcher"):
        watcher = scm.watcher(on_logged=worker.notify if worker else None, registry=registry)
        if watcher is None and role == "watcher":
            raise ValueError("the watcher role needs scm.provider: local")
        others.append(watcher)
    running = [c for c in others if c is not None]

    if role in HTTP_ROLES:
        note = write_access_note(settings.api)
        if note is not None:
            log.log(*note)
        service.app = create_service_app(
            settings,
            engine,
            worker=worker,
            registry=registry,
            central=central,
            on_change=_fan_out([c.notify for c in (controller, reporter) if c is not None]),
            components=running,
        )
    service.worker = worker if isinstance(worker, NotifyingWorker) else None
    service.worker_process = worker if isinstance(worker, WorkerProcess) else None
    service.components = [worker, *running] if worker is not None else running
    return service


def _worker(
    settings: Settings,
    role: Role,
    engine: Engine,
    registry: CollectorRegistry,
    after_batch: list[Callback],
) -> EventWorker:
    """The event worker: in a child process in `all` (unless `worker.own_process` is off),
    else in this one."""
    if role == "all" and settings.worker.own_process:
        return WorkerProcess(settings, after_batch=after_batch, registry=registry)
    plugins = _plugins(settings)
    worker = NotifyingWorker.from_settings(settings, engine, plugins, registry=registry)
    assert isinstance(worker, NotifyingWorker)
    worker.after_batch = after_batch
    return worker


def _reporter(
    settings: Settings, engine: Engine, registry: CollectorRegistry, scm: ScmProvider
) -> Reporter:
    try:
        return Reporter.from_settings(settings, engine, scm, registry=registry)
    except ValueError as exc:
        raise ValueError(
            f"reporter: {exc} (or set scm.provider: local to run without GitHub)"
        ) from None


# --- helpers -------------------------------------------------------------------------------


def _plugins(settings: Settings) -> list[Plugin]:
    """The configured plugins; none configured but a job config: the trigger plugin."""
    if settings.worker.plugins or not settings.config_path:
        return load_plugins(settings)
    worker = settings.worker.model_copy(update={"plugins": [TRIGGER_PLUGIN]})
    return load_plugins(settings.model_copy(update={"worker": worker}))


def _fan_out(callbacks: Sequence[Callback | None]) -> Callback | None:
    present = [c for c in callbacks if c is not None]
    if not present:
        return None

    def notify_all() -> None:
        for callback in present:
            _safely(callback)

    return notify_all


def _safely(callback: Callback) -> None:
    try:
        callback()
    except Exception:
        log.exception("serve: wake-up callback %r failed", callback)


def _stop_all(components: Sequence[Component]) -> None:
    for component in reversed(components):
        try:
            component.stop()
        except Exception:
            log.exception("stopping %r failed", component)
