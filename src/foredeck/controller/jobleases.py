"""The leases of one job run: acquired before its first step, kept by heartbeats while it runs,
released dirty however it ends (docs/leases.md, "Jobs").

The steps get each lease as files in a directory of the workspace (one per user-data key, 0600,
never in a log) and as `FOREDECK_LEASE_<TYPE>[_<i>]_<NAME|DIR|<KEY>_FILE>` variables that hold
names and paths only. A controller that dies stops heartbeating: the reaper takes them back
after their TTL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from foredeck.config.models import LeaseRequest
from foredeck.leases import Lease, LeaseError, LeaseLost, LeaseService, NoFreeResource
from foredeck.leases.held import job_owner
from foredeck.leases.provider import ProviderError
from foredeck.pipeline.model import LeaseNeed

log = logging.getLogger(__name__)

LEASES = "leases"
"""The workspace directory the lease files are in (`$FOREDECK_LEASES`)."""
WAIT_SLICE = 1.0
"""Seconds one acquire waits before the job's abort or stop is looked at again."""

Describe = Callable[[str | None], Awaitable[None]]


class LeaseFailed(Exception):
    """A lease the job asked for cannot be had (no lease service, an unknown type, a provider
    that failed): the job ends `error` with this message."""


def wanted(job: list[LeaseRequest], pipeline: list[LeaseNeed]) -> list[LeaseRequest]:
    """The job's `leases:` and its pipeline's `foredeck.dev/leases`: a type the job names is
    leased as the job says (its count and TTL), the pipeline's other types are added."""
    named = {request.type for request in job}
    added = [
        LeaseRequest(type=need.type, count=need.count, ttl=need.ttl)
        for need in pipeline
        if need.type not in named
    ]
    return [*job, *added]


def unknown_types(
    service: LeaseService | None, job: list[LeaseRequest], pipeline: list[LeaseNeed]
) -> str | None:
    """Why a lease asked for names no configured type (the pipeline's with its `file:line`:
    a pipeline file read from the checkout is only checked here), or None."""
    known = set(service.types) if service is not None else set()
    listed = ", ".join(sorted(known)) or "none are configured"
    for request in job:
        if request.type not in known:
            return f"leases: unknown lease type {request.type!r} (leases.types: {listed})"
    for need in pipeline:
        if need.type not in known:
            return (
                f"pipeline {need.source}: unknown lease type {need.type!r} (leases.types: {listed})"
            )
    return None


def env_name(type_: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", type_.upper())


class JobLeases:
    """Acquire, hand over, heartbeat and release the leases of job `job_id`."""

    def __init__(
        self,
        service: LeaseService | None,
        job_id: int,
        requests: list[LeaseRequest],
        default_ttl: float,
        on_lost: Callable[[str], None] | None = None,
        max_wait: float = float("inf"),
    ) -> None:
        """`on_lost(why)` is called once when a heartbeat finds a lease no longer held: the
        job must stop, someone else may hold the resource now. `max_wait`: seconds `acquire`
        waits for all of them at most (`leases.job_wait`)."""
        self.service = service
        self.owner = job_owner(job_id)
        # One order for every job: two jobs never each hold what the other waits for.
        self.requests = sorted(requests, key=lambda q: q.type)
        self.default_ttl = default_ttl
        self.max_wait = max_wait
        self.held: list[Lease] = []
        self.root: Path | None = None
        self._beat: asyncio.Task[None] | None = None
        self.on_lost = on_lost
        self.lost: str | None = None
        """Why the job lost a lease (the first one lost), None while it holds them all."""

    async def acquire(self, stopped: Callable[[], bool], describe: Describe) -> bool:
        """Acquire every lease, waiting while none is free (the job stays pending and says so);
        False when the job was stopped meanwhile. `LeaseFailed` when a lease cannot be had."""
        if not self.requests:
            return True
        if self.service is None:
            raise LeaseFailed("the job asks for leases but no lease types are configured")
        service = self.service
        waited = False
        deadline = time.monotonic() + self.max_wait
        for request in self.requests:
            ttl = request.ttl or self.default_ttl
            for _ in range(request.count):
                said = False
                while True:
                    if self.lost is not None:
                        raise LeaseFailed(self.lost)
                    if stopped():
                        return False
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise LeaseFailed(
                            f"no free {request.type} lease within {self.max_wait:g}s "
                            "(leases.job_wait)"
                        )
                    try:
                        lease = await asyncio.to_thread(
                            service.acquire, request.type, self.owner, ttl, min(WAIT_SLICE, left)
                        )
                    except NoFreeResource:
                        if not said:
                            await describe(f"Waiting for a free {request.type} lease.")
                            said = waited = True
                        continue
                    except (LeaseError, ProviderError) as exc:
                        raise LeaseFailed(f"lease of {request.type}: {exc}") from exc
                    self.held.append(lease)
                    self._keep()
                    break
        if waited:
            await describe(None)
        return True

    def _keep(self) -> None:
        if self._beat is None:
            self._beat = asyncio.get_running_loop().create_task(self._heartbeats())

    async def _heartbeats(self) -> None:
        """Every third of the shortest TTL, extend each lease. A lost one (reaped, or released
        by someone else) is no longer beaten and stops the job (`on_lost`); the others are
        kept until the job's end releases them."""
        assert self.service is not None
        service = self.service
        gone: set[str] = set()
        while True:
            await asyncio.sleep(min(lease.ttl for lease in self.held) / 3)
            for lease in list(self.held):
                if lease.id in gone:
                    continue
                try:
                    await asyncio.to_thread(service.heartbeat, lease)
                except LeaseLost:
                    gone.add(lease.id)
                    self._lost(lease)
                except Exception as exc:  # the database is away: try again next time
                    log.warning("%s: heartbeat of %s failed: %s", self.owner, lease.name, exc)

    def _lost(self, lease: Lease) -> None:
        why = (
            f"lease {lease.name} of type {lease.type} was lost: no longer held by this job "
            "(released by someone else, or taken back by the reaper after its TTL)"
        )
        log.warning("%s: %s", self.owner, why)
        if self.lost is None:
            self.lost = why
            if self.on_lost is not None:
                self.on_lost(why)

    def hand_over(self, workspace: Path) -> tuple[dict[str, str], Path | None]:
        """Write the lease files; the steps' variables and the directory they are in."""
        if not self.held:
            return {}, None
        root = self.root = workspace / LEASES
        root.mkdir(mode=0o700, exist_ok=True)
        env = {"FOREDECK_LEASES": str(root)}
        counts: dict[str, int] = {}
        for lease in self.held:
            counts[lease.type] = counts.get(lease.type, 0) + 1
        seen: dict[str, int] = {}
        for lease in self.held:
            index = seen[lease.type] = seen.get(lease.type, -1) + 1
            stem = f"FOREDECK_LEASE_{env_name(lease.type)}"
            if counts[lease.type] > 1:
                stem += f"_{index}"
            folder = root / f"{lease.type}-{index}"
            folder.mkdir(mode=0o700, exist_ok=True)
            env[f"{stem}_NAME"] = lease.name
            env[f"{stem}_DIR"] = str(folder)
            for key, value in lease.user_data.items():
                if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key):
                    continue
                path = folder / key
                _write_private(path, value if isinstance(value, str) else json.dumps(value))
                env[f"{stem}_{env_name(key)}_FILE"] = str(path)
        return env, root

    async def release(self) -> None:
        """Stop heartbeating; remove the lease files (credentials outlive no run); give every
        lease back dirty (errors are logged: the reaper takes back what could not be released
        after its TTL)."""
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
            self._beat = None
        if self.root is not None:
            await asyncio.to_thread(shutil.rmtree, self.root, True)
        if self.service is None:
            return
        for lease in self.held:
            try:
                await asyncio.to_thread(self.service.release, lease, True)
            except Exception as exc:
                log.warning(
                    "%s: release of %s %s failed: %s", self.owner, lease.type, lease.name, exc
                )

    def summary(self) -> list[dict[str, Any]]:
        """What `finished.json`'s metadata lists: type and name of each lease, no user data."""
        return [{"type": lease.type, "name": lease.name} for lease in self.held]


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")
