"""One job this controller runs, how to stop it, and the outcome it ends with."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from foredeck.censor import NO_CENSOR, Censor
from foredeck.controller.queries import Claimed
from foredeck.db.models import JobState

log = logging.getLogger(__name__)

StopReason = Literal["abort", "timeout", "stop", "lease"]
Phase = Literal["prepare", "run", "finish"]
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    state: JobState
    description: str

    def censored(self, censor: Censor) -> Outcome:
        """The outcome with the job's secrets masked in its description (stored, reported to
        GitHub, shown by the dashboard): an error may quote what a step printed."""
        return replace(self, description=censor.text(self.description))


class Running:
    """One job this controller runs, and how to stop it.

    Each phase runs in an inner task, so that stopping cancels just that phase: a checkout is
    cancelled outright (git's process groups are killed); a pipeline gets the executor's cancel
    event (steps get SIGTERM, finally tasks run) and, if it is still going after the grace
    period, is cancelled until it returns.
    """

    def __init__(self, claimed: Claimed, grace: float) -> None:
        self.claimed = claimed
        self.id = claimed.id
        self.cancel = asyncio.Event()
        self.reason: StopReason | None = None
        self.why = ""
        """What stopped it, in words, when the reason is not an abort, timeout or stop."""
        self.phase: Phase = "prepare"
        self.grace = grace
        self.final_sha = ""
        self.leases: list[dict[str, Any]] = []
        """The leases the run held (type and name), for its `finished.json`."""
        self.censor = NO_CENSOR
        """Masks the job's secrets (`secrets.py`) in what is stored of it."""
        self.inner: asyncio.Future[Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self._enforcer: asyncio.Task[None] | None = None

    def stop(self, reason: StopReason, why: str = "") -> None:
        if self.reason is not None or self.phase == "finish":
            return
        self.reason = reason
        self.why = why
        if self.phase == "prepare":
            if self.inner is not None:
                self.inner.cancel()
        else:
            self.cancel.set()
            self._enforcer = asyncio.get_running_loop().create_task(self._enforce())

    async def _enforce(self) -> None:
        await asyncio.sleep(self.grace)
        while self.inner is not None and not self.inner.done():
            log.warning("job %d: still running %gs after stop; cancelling", self.id, self.grace)
            self.inner.cancel()
            await asyncio.wait({self.inner}, timeout=max(self.grace, 0.5))

    async def step(self, work: Coroutine[Any, Any, T]) -> T:
        inner = asyncio.ensure_future(work)
        self.inner = inner
        if self.reason is not None and self.phase == "prepare":
            inner.cancel()
        try:
            return await inner
        finally:
            self.inner = None

    def done(self) -> None:
        self.phase = "finish"
        if self._enforcer is not None:
            self._enforcer.cancel()


def cancelling() -> bool:
    """Whether the current task itself is being cancelled (not just a phase we cancelled)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
