"""Argo's template `synchronization` within one run: mutexes and semaphores held by attempts.

A container/script template's `synchronization` (`TaskSpec.cluster`, as written) names mutexes
(`mutexes: [{name}]`, or the older `mutex: {name}`) and semaphores (`semaphores:
[{configMapKeyRef: {name, key}}]`, or `semaphore: ...`). On a host they are in-process locks of
the run: each running task (each matrix instance, each attempt with its retries) holds all of
its template's locks, taken in a fixed order (no deadlock), while other holders wait, as Argo's
controller keeps a pod Pending until its lock is free. A mutex has one place; a semaphore as
many as its ConfigMap key says (a ConfigMap of the input files, `PipelineRunSpec.config_maps`).
Locks are not shared with other runs on the host (Argo shares them across workflows), and a
name is used as written (a name with `{{...}}` tags is not resolved). A workflow-level
`synchronization` holds trivially within one run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from foredeck.pipeline.model import TaskSpec


class LockError(ValueError):
    """A `synchronization` a host cannot honour (a semaphore whose ConfigMap is missing)."""


class Locks:
    """The run's mutexes and semaphores, made on first use."""

    def __init__(self, config_maps: Mapping[str, Mapping[str, str]]) -> None:
        self.config_maps = config_maps
        self.locks: dict[str, asyncio.Semaphore] = {}

    def wanted(self, spec: TaskSpec) -> list[tuple[str, int]]:
        """(lock key, places) of each lock the template takes, sorted by key."""
        sync = spec.cluster.get("synchronization")
        if not isinstance(sync, dict):
            return []
        found: dict[str, int] = {}
        for entry in _entries(sync, "mutexes", "mutex"):
            found[f"mutex/{entry.get('name')}"] = 1
        for entry in _entries(sync, "semaphores", "semaphore"):
            ref = entry.get("configMapKeyRef")
            if not isinstance(ref, dict):
                raise LockError(f"template {spec.name!r}: a semaphore needs a configMapKeyRef")
            name, key = ref.get("name"), ref.get("key")
            value = self.config_maps.get(str(name), {}).get(str(key))
            if value is None or not value.strip().isdigit() or int(value) < 1:
                why = f"ConfigMap {name!r} key {key!r} gives no positive limit ({value!r})"
                raise LockError(f"template {spec.name!r}: semaphore: {why}")
            found[f"semaphore/{name}/{key}"] = int(value)
        return sorted(found.items())

    @contextlib.asynccontextmanager
    async def hold(self, spec: TaskSpec) -> AsyncIterator[list[str]]:
        """Hold every lock of `spec` (raises LockError first when one cannot be made)."""
        wanted = self.wanted(spec)
        async with contextlib.AsyncExitStack() as stack:
            for key, places in wanted:
                lock = self.locks.setdefault(key, asyncio.Semaphore(places))
                await stack.enter_async_context(lock)
            yield [key for key, _ in wanted]


def _entries(sync: dict[str, Any], many: str, one: str) -> list[dict[str, Any]]:
    items = sync.get(many)
    entries = list(items) if isinstance(items, list) else []
    if isinstance(sync.get(one), dict):
        entries.append(sync[one])
    return [e for e in entries if isinstance(e, dict)]
