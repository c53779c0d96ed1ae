"""Finding and reading a job's `build-log.txt`: live from its workspace, or from the store.

A running job's log grows in its workspace (the executor's output directory); a finished job's
log is in the artifact store under Prow's layout, and stays there after the sinker removed the
workspace. Reads are ranged and bounded, so a 1 GB log never sits in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from foredeck.db.models import Job
from foredeck.jobs import store_log_path
from foredeck.storage.prow import BUILD_LOG
from foredeck.storage.store import ArtifactStore

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
MAX_LOG_BYTES = 64 * 1024 * 1024
"""The most a `GET /api/jobs/{id}/log` sends; a longer log is cut (see `LogSlice.truncated`)."""
MAX_TAIL_LINES = 100_000

# The controller's workspace layout: `<workspace>/out/` is the executor's output directory
# (`foredeck.controller.workspace.OUT`, not imported so that the API does not load the executor).
WORKSPACE_LOG_PATHS = (f"out/{BUILD_LOG}",)


class LogSource(Protocol):
    name: str

    def size(self) -> int: ...

    def read_range(self, start: int, length: int) -> bytes: ...


@dataclass
class FileLog:
    path: Path
    name: str = "workspace"

    def size(self) -> int:
        return self.path.stat().st_size

    def read_range(self, start: int, length: int) -> bytes:
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(length)


@dataclass
class StoreLog:
    store: ArtifactStore
    path: str
    name: str = "artifacts"

    def size(self) -> int:
        return self.store.size(self.path)

    def read_range(self, start: int, length: int) -> bytes:
        return self.store.read_range(self.path, start, length)


def find_log(job: Job, store: ArtifactStore | None) -> LogSource | None:
    """The job's log: its workspace copy first (live), then the published one."""
    if job.workspace:
        root = Path(job.workspace)
        for rel in WORKSPACE_LOG_PATHS:
            candidate = root / rel
            if candidate.is_file() and not candidate.is_symlink():
                return FileLog(candidate)
    path = store_log_path(job)
    if store is not None and path is not None:
        try:
            if store.exists(path):
                return StoreLog(store, path)
        except (OSError, ValueError) as exc:
            log.warning("job %s: cannot look up %s in the artifact store: %s", job.id, path, exc)
    return None


@dataclass(frozen=True)
class LogSlice:
    start: int
    end: int
    size: int

    @property
    def truncated(self) -> bool:
        return self.start > 0 or self.end < self.size


def plan(source: LogSource, tail: int | None, cap: int = MAX_LOG_BYTES) -> LogSlice:
    """Which bytes to send: all (up to `cap`), or the last `tail` lines (at most `cap` bytes)."""
    size = source.size()
    if tail is None:
        return LogSlice(0, min(size, cap), size)
    start = _tail_start(source, size, tail, cap)
    return LogSlice(start, size, size)


def _tail_start(source: LogSource, size: int, lines: int, cap: int) -> int:
    """The offset where the last `lines` lines begin, reading backwards a chunk at a time."""
    if lines <= 0:
        return size
    floor = max(0, size - cap)
    pos = size
    newlines = 0
    # A final newline ends the last line; it does not start another one.
    if size > 0 and source.read_range(size - 1, 1) == b"\n":
        newlines = -1
    while pos > floor:
        start = max(floor, pos - CHUNK)
        chunk = source.read_range(start, pos - start)
        for index in range(len(chunk) - 1, -1, -1):
            if chunk[index] == 0x0A:
                newlines += 1
                if newlines == lines:
                    return start + index + 1
        pos = start
    return floor


def stream(source: LogSource, part: LogSlice) -> Iterator[bytes]:
    pos = part.start
    while pos < part.end:
        data = source.read_range(pos, min(CHUNK, part.end - pos))
        if not data:
            return
        pos += len(data)
        yield data
