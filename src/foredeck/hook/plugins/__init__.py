"""Plugins: what the event worker hands each logged event to.

A plugin is any object with a `name` and a `handle(event, session)` method. `handle` runs inside
the worker's database transaction for that event (in a savepoint of its own): rows it adds
through `session` commit together with the event's "processed" mark, or not at all. It must not
commit or roll back the session itself.

`handle` may be a plain method or `async def`. The worker owns a private event loop in its own
thread and awaits the coroutine there, so an async plugin can use an `httpx.AsyncClient` (create
it lazily, on first use, so it binds to that loop) and still use the synchronous `session`.

Delivery is at least once: an event can be handled again after a crash or a failure of another
plugin (a retry skips plugins that already succeeded on that event). Database effects are made
idempotent with a `dedupe_key` (see `foredeck.db.jobs.create_job`); effects outside the database
(labels, comments, statuses) must be idempotent by themselves.

**Two phases, for plugins that talk to the network.** A plugin may also define
`prepare(event, reader)` (plain or `async def`). The worker then calls `prepare` first, outside
any write transaction, with `reader`, a read-only session (on SQLite: without the write lock), and
`prepare` returns `apply(session)` (or None when it has nothing to write). `apply` then runs in
the event's write transaction like `handle` would. Slow work (GitHub calls) belongs in
`prepare`: on SQLite the write lock is shared with the hook, and a webhook would otherwise wait
for its 2xx as long as GitHub takes to answer. `handle` is not called on such a plugin.

**Errors.** An exception from `handle`, `prepare` or `apply` fails the event for this attempt:
it is retried with backoff, up to `worker.max_attempts`. An event that can never work (a
payload the plugin cannot use) raises `PermanentEventError` instead: the worker parks it at
once, with the message as its reason, and logs one line.

Registration: list factories as `module:callable` in `Settings.worker.plugins`; each is called
with the `Settings` and returns a plugin. A plugin that has a `close()` method (plain or async)
gets it called when the worker stops.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session

from foredeck.hook.events import StoredEvent
from foredeck.settings import Settings

__all__ = [
    "Apply",
    "PermanentEventError",
    "Plugin",
    "PluginError",
    "PluginFactory",
    "StoredEvent",
    "TwoPhasePlugin",
    "load_plugins",
]


@runtime_checkable
class Plugin(Protocol):
    name: str

    def handle(self, event: StoredEvent, session: Session) -> Awaitable[None] | None: ...


Apply = Callable[[Session], None]
"""The write phase of a two-phase plugin: runs in the event's transaction."""


@runtime_checkable
class TwoPhasePlugin(Protocol):
    name: str

    def handle(self, event: StoredEvent, session: Session) -> Awaitable[None] | None: ...

    def prepare(
        self, event: StoredEvent, reader: Session
    ) -> Awaitable[Apply | None] | Apply | None: ...


PluginFactory = Callable[[Settings], Plugin]


class PluginError(Exception):
    """A configured plugin could not be loaded."""


class PermanentEventError(ValueError):
    """The event can never be handled (its payload is unusable): park it now, no retries.

    The message is the reason kept in the event's `last_error`: one line, no traceback.
    """


def load_plugins(settings: Settings) -> list[Plugin]:
    """Instantiate the factories listed in `settings.worker.plugins`, in order."""
    plugins: list[Plugin] = []
    for spec in settings.worker.plugins:
        factory = _resolve(spec)
        plugin = factory(settings)
        if not isinstance(plugin, Plugin):
            raise PluginError(f"plugin factory {spec!r} did not return a plugin")
        if any(p.name == plugin.name for p in plugins):
            raise PluginError(f"two plugins are named {plugin.name!r}")
        plugins.append(plugin)
    return plugins


def _resolve(spec: str) -> PluginFactory:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"plugin factory {spec!r} must look like 'package.module:callable'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"plugin factory {spec!r}: cannot import {module_name}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise PluginError(f"plugin factory {spec!r}: {module_name} has no callable {attr!r}")
    return factory  # type: ignore[no-any-return]
