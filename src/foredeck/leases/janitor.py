"""The janitor: deletes what a provider holds with foredeck's marks that no live resource names.

Leaks come from processes killed between making and recording, from cleaners that died, from
people: whatever their cause, a resource the provider lists but no row of a live (not
tombstoned) resource names is deleted. The provider is listed before the rows are read; a
row is written before its resource is made, so one being made is never taken for a leak.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from foredeck.leases import store
from foredeck.leases.service import LeaseService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JanitorAction:
    type: str
    name: str
    action: str
    """`deleted`, `would delete` (dry run) or `failed`."""
    reason: str

    def line(self) -> str:
        return f"{self.action}: {self.type} {self.name}: {self.reason}"


def sweep(service: LeaseService, dry_run: bool = False) -> list[JanitorAction]:
    """One pass over every dynamic type's provider; what was (or would be) deleted and why."""
    actions: list[JanitorAction] = []
    seen: set[int] = set()
    for kind in service.types.values():
        try:
            provider = service.provider(kind.name)
            if provider is None or id(provider) in seen:
                continue
            seen.add(id(provider))
            owned = provider.list_owned()
        except Exception as exc:
            actions.append(JanitorAction(kind.name, "*", "failed", f"cannot list: {exc}"))
            continue
        live = store.live_names(service.engine)
        for name in owned:
            if name in live:
                continue
            reason = "no live lease resource names it"
            if dry_run:
                actions.append(JanitorAction(kind.name, name, "would delete", reason))
                continue
            try:
                provider.delete(name)
            except Exception as exc:
                actions.append(JanitorAction(kind.name, name, "failed", f"{reason}; {exc}"))
            else:
                actions.append(JanitorAction(kind.name, name, "deleted", reason))
    for action in actions:
        log.info("janitor %s", action.line())
    return actions


class LeaseKeeper:
    """The background loop of a server: `maintain` every `reap_interval`, `sweep` every
    `janitor_interval` (a dry run when `janitor_dry_run`)."""

    def __init__(self, service: LeaseService) -> None:
        self.service = service
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.service.sync()
        self._thread = threading.Thread(target=self._run, name="foredeck-leases", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        settings = self.service.settings
        next_sweep = time.monotonic()
        while not self._stop.is_set():
            try:
                self.service.maintain()
                if time.monotonic() >= next_sweep:
                    sweep(self.service, dry_run=settings.janitor_dry_run)
                    next_sweep = time.monotonic() + settings.janitor_interval
            except Exception:
                log.exception("lease maintenance failed; trying again")
            self._stop.wait(settings.reap_interval)
