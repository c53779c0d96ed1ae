"""Build ids: 19-digit, time-ordered snowflake numbers, like the build ids Prow hands out today.

An id is `(milliseconds since EPOCH_MS) << 22 | node << 12 | sequence` (the common Twitter
snowflake layout: 41 + 10 + 12 bits). One generator hands out strictly increasing ids, so ids of
one job (indeed of all jobs) increase with start time, sort the same numerically and as 19-digit
strings, and need no database round trip. Run one generator per controller process; give several
controllers distinct `node` numbers (ids then stay unique, and ordered to the millisecond).

Monotonic even if the wall clock steps back: the generator never goes below its last timestamp,
and when 4096 ids are taken within one millisecond it borrows the next one instead of sleeping.

A controller's ids (`for_job`) put the job's database id in the low 22 bits instead of node
and sequence: several controllers need no node numbers handed out (a node derived from each
one's name collided one time in 1,024, and two controllers then gave two jobs started in the
same millisecond the same id), since a job row is claimed once. Two ids can only meet for two
jobs whose ids differ by a multiple of 2^22 (4,194,304) started in the same millisecond.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

EPOCH_MS = 1288834974657
"""Twitter's snowflake epoch (2010-11-04), which ids of this layout conventionally use."""
NODE_BITS = 10
SEQUENCE_BITS = 12
MAX_NODE = (1 << NODE_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class BuildIdGenerator:
    """Thread-safe, strictly increasing snowflake ids (as decimal strings)."""

    def __init__(
        self,
        node: int = 0,
        *,
        clock_ms: Callable[[], int] = _wall_ms,
        epoch_ms: int = EPOCH_MS,
    ) -> None:
        if not 0 <= node <= MAX_NODE:
            raise ValueError(f"node must be within 0..{MAX_NODE}, got {node}")
        self.node = node
        self._clock_ms = clock_ms
        self._epoch_ms = epoch_ms
        self._last_ms = -1
        self._sequence = 0
        self._lock = threading.Lock()

    def _since_epoch(self) -> int:
        now = self._clock_ms() - self._epoch_ms
        if now < 0:
            raise ValueError("clock is before the id epoch")
        return now

    def next_int(self) -> int:
        with self._lock:
            now = self._since_epoch()
            if now > self._last_ms:
                self._last_ms, self._sequence = now, 0
            elif self._sequence < MAX_SEQUENCE:
                self._sequence += 1
            else:
                self._last_ms, self._sequence = self._last_ms + 1, 0
            return (
                (self._last_ms << (NODE_BITS + SEQUENCE_BITS))
                | (self.node << SEQUENCE_BITS)
                | self._sequence
            )

    def next(self) -> str:
        return str(self.next_int())

    def for_job(self, job_id: int) -> str:
        """The id of a start of job `job_id` (see the module docstring): this generator's
        millisecond, never below its last one, and the job id's low 22 bits."""
        with self._lock:
            self._last_ms = max(self._last_ms, self._since_epoch())
            low = job_id & ((1 << (NODE_BITS + SEQUENCE_BITS)) - 1)
            return str((self._last_ms << (NODE_BITS + SEQUENCE_BITS)) | low)


def build_id_time(build_id: str | int, *, epoch_ms: int = EPOCH_MS) -> datetime:
    """When an id was generated (UTC, millisecond precision)."""
    value = int(build_id)
    if value < 0:
        raise ValueError(f"invalid build id {build_id!r}")
    ms = (value >> (NODE_BITS + SEQUENCE_BITS)) + epoch_ms
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
