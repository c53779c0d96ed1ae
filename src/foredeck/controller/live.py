"""Live snapshots: a running job's logs and graph in its build directory before it ends.

A dashboard that does not share the controller's disk (the Helm chart's separate pods) can only
read the store. So while a job runs, every `controller.live_publish_interval` seconds the files a
live view needs (`started.json`, `pipeline-run.json`, `build-log.txt`, and each task's log) are
uploaded to the job's build directory, each only when its size or mtime changed since the last
snapshot. A task's log is an index into the build log on disk (`storage/tasklog.py`); the
snapshot holds its text instead (`tasks/<task>/log.txt`), since the snapshot's build log may be
only a tail; `forget()` removes those texts once the final publish has put the indexes there.
Never `finished.json` (its presence means "done" to every reader of Prow's layout), never
`.work/` (scratch) or `artifacts/` (uploaded once at the end), never `latest-build.txt`.

Cost is bounded: a log longer than `live_publish_max_file_bytes` is uploaded as its last that
many bytes (cut at a line start) after one line saying what was left out, and one snapshot
uploads at most `live_publish_max_bytes` (and `MAX_FILES` files); what does not fit waits for the
next snapshot, the least recently uploaded first. A 1 GiB log thus costs a few MiB per interval,
never a full re-upload. The final publish overwrites every snapshot with the whole files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from foredeck.storage import prow
from foredeck.storage.store import ArtifactStore
from foredeck.storage.tasklog import (
    TASK_LOG_INDEX,
    TASK_LOG_TEXT,
    IndexedLog,
    LocalRange,
    RangeSource,
)

log = logging.getLogger(__name__)

TOP_FILES = (prow.STARTED, prow.PIPELINE_RUN, prow.BUILD_LOG)
"""Uploaded in this order; `finished.json` is never among them."""
TASKS_DIR = "tasks"
TASK_LOG = TASK_LOG_TEXT
"""A task log's text in a snapshot (on disk a task's log is `TASK_LOG_INDEX`)."""
MAX_FILES = 64
"""Files uploaded per snapshot at most: each is one PUT on S3/GCS."""
CUT_MARK = "[foredeck] live snapshot:"
"""Starts the notice line of a cut log (the dashboard looks for it: `view/artifacts.py`)."""
NOTICE_MAX = 256
"""Bytes kept for the notice of a cut log, so a cut file stays within its cap, notice included."""
_COPY_CHUNK = 1024 * 1024
_NEWLINE_SEARCH = 64 * 1024


def cut_notice(omitted: int, total: int, kept: int) -> bytes:
    """The first line of a cut log snapshot, in the executor's log line format."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return (
        f"{stamp} {CUT_MARK} the first {omitted} of {total} bytes are left out (a snapshot "
        f"holds the last {kept} bytes of a log); the whole log is published when the job ends\n"
    ).encode()


@dataclass
class SnapshotStats:
    """What one snapshot did (logged at debug level, and asserted by tests)."""

    uploaded: list[str] = field(default_factory=list)
    bytes: int = 0
    cut: list[str] = field(default_factory=list)
    deferred: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Candidate:
    rel: str
    local: Path
    size: int
    """Bytes to upload: the file's, or for a task log index the task log's."""
    mtime_ns: int
    index: bool = False
    """`local` is a task log index: what is uploaded is the text it points to."""


class _FdRange:
    """An open file as a `RangeSource` of a fixed size (a growing log is not chased)."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size

    def size(self) -> int:
        return self._size

    def read_range(self, start: int, length: int) -> bytes:
        return os.pread(self._fd, max(0, min(length, self._size - start)), start)


def _open_nofollow(path: Path) -> int:
    """O_NOFOLLOW: a log swapped for a symlink since the stat is refused, not followed."""
    return os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))


class LiveSnapshots:
    """Snapshots of one run's `out/` directory into its build directory (thread-safe).

    `snapshot()` runs in a worker thread; `close()` waits for one in flight and makes every
    later call a no-op, so nothing of a snapshot lands after the final publish has begun.
    """

    def __init__(
        self,
        store: Callable[[], ArtifactStore],
        build_dir: str,
        out: Path,
        *,
        max_bytes: int,
        max_file_bytes: int,
    ) -> None:
        if max_file_bytes < 4 * NOTICE_MAX or max_bytes < 4 * NOTICE_MAX:
            raise ValueError(
                f"live snapshot caps must be at least {4 * NOTICE_MAX} bytes "
                f"(max_bytes={max_bytes}, max_file_bytes={max_file_bytes})"
            )
        self._store = store
        """Opened in the worker thread at the first upload (opening may touch disk or network)."""
        self.build_dir = build_dir.rstrip("/")
        self.out = out
        self.max_bytes = max_bytes
        self.max_file_bytes = min(max_file_bytes, max_bytes)
        self._sent: dict[str, tuple[int, int]] = {}
        """rel -> (size, mtime_ns) of the version last uploaded."""
        self._round: dict[str, int] = {}
        """rel -> the snapshot number that last uploaded it (fairness among task logs)."""
        self._count = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def changed(self) -> list[_Candidate]:
        """Live files whose size or mtime differ from the last upload, in upload order."""
        top: list[_Candidate] = []
        for name in TOP_FILES:
            found = self._stat(name, self.out / name)
            if found is not None:
                top.append(found)
        tasks: list[_Candidate] = []
        tasks_dir = self.out / TASKS_DIR
        if tasks_dir.is_dir() and not tasks_dir.is_symlink():
            with os.scandir(tasks_dir) as scan:
                for item in scan:
                    if item.is_dir(follow_symlinks=False):
                        rel = f"{TASKS_DIR}/{item.name}/{TASK_LOG}"
                        found = self._stat(rel, Path(item.path) / TASK_LOG_INDEX, index=True)
                        if found is not None:
                            tasks.append(found)
        # Never uploaded (or longest ago) first, so busy logs cannot starve quiet ones.
        tasks.sort(key=lambda c: (self._round.get(c.rel, -1), c.rel))
        return [c for c in (*top, *tasks) if self._sent.get(c.rel) != (c.size, c.mtime_ns)]

    def _stat(self, rel: str, local: Path, *, index: bool = False) -> _Candidate | None:
        try:
            st = local.lstat()
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        size = st.st_size
        if index:
            try:
                size = IndexedLog(LocalRange(local), LocalRange(self.out / prow.BUILD_LOG)).size()
            except (OSError, ValueError):
                return None
        return _Candidate(rel, local, size, st.st_mtime_ns, index)

    def snapshot(self) -> SnapshotStats:
        """Upload what changed, within the byte and file budgets."""
        stats = SnapshotStats()
        begin = time.perf_counter()
        with self._lock:
            if self._closing.is_set():
                return stats
            self._count += 1
            budget = self.max_bytes
            for candidate in self.changed():
                cost = min(candidate.size, self.max_file_bytes)
                if self._closing.is_set() or cost > budget or len(stats.uploaded) >= MAX_FILES:
                    stats.deferred += 1
                    continue
                sent = self._upload(candidate)
                if sent is None:
                    continue
                budget -= sent
                stats.bytes += sent
                stats.uploaded.append(candidate.rel)
                if candidate.size > self.max_file_bytes:
                    stats.cut.append(candidate.rel)
                self._sent[candidate.rel] = (candidate.size, candidate.mtime_ns)
                self._round[candidate.rel] = self._count
        stats.seconds = time.perf_counter() - begin
        return stats

    def _upload(self, candidate: _Candidate) -> int | None:
        """Upload the first `size` bytes seen by the stat, or the cut tail; bytes sent (None:
        the file cannot be opened any more)."""
        fds: list[int] = []
        try:
            fds.append(_open_nofollow(candidate.local))
            source: RangeSource = _FdRange(fds[0], os.fstat(fds[0]).st_size)
            if candidate.index:
                fds.append(_open_nofollow(self.out / prow.BUILD_LOG))
                source = IndexedLog(source, _FdRange(fds[1], os.fstat(fds[1]).st_size))
            return self._send(f"{self.build_dir}/{candidate.rel}", source, candidate.size)
        except (OSError, ValueError):
            return None  # gone, or a symlink now: nothing to upload
        finally:
            for fd in fds:
                os.close(fd)

    def _send(self, dest: str, source: RangeSource, size: int) -> int:
        store = self._store()
        if size <= self.max_file_bytes:
            with store.open_write(dest) as sink:
                return _copy(source, 0, size, sink)
        keep = self.max_file_bytes - NOTICE_MAX
        start = size - keep
        head = source.read_range(start, min(_NEWLINE_SEARCH, keep))
        newline = head.find(b"\n")
        if 0 <= newline < len(head) - 1:
            start += newline + 1  # from a line start: no half line after the notice
        with store.open_write(dest) as sink:
            notice = cut_notice(start, size, size - start)[:NOTICE_MAX]
            sink.write(notice)
            return len(notice) + _copy(source, start, size, sink)

    def forget(self) -> None:
        """Remove the task log texts snapshots uploaded: after the final publish, which put the
        task logs' indexes there, they are stale copies."""
        store = self._store()
        for rel in sorted(self._sent):
            if rel.startswith(f"{TASKS_DIR}/") and rel.endswith(f"/{TASK_LOG}"):
                try:
                    store.delete_prefix(f"{self.build_dir}/{rel}")
                except (OSError, ValueError) as exc:
                    log.warning("could not remove the snapshot %s: %s", rel, exc)

    def close(self) -> None:
        """No snapshot after this returns (one in flight is waited for, cut short)."""
        self._closing.set()
        with self._lock:
            pass


def _copy(source: RangeSource, start: int, end: int, sink: BinaryIO) -> int:
    """Bytes `[start, end)` at most: a log growing meanwhile is not chased past its stat."""
    position = start
    while position < end:
        data = source.read_range(position, min(_COPY_CHUNK, end - position))
        if not data:
            break
        sink.write(data)
        position += len(data)
    return position - start


class LivePublisher:
    """One job's snapshot loop in the controller's event loop; uploads run in worker threads."""

    def __init__(self, snapshots: LiveSnapshots, interval: float, job_id: int) -> None:
        self.snapshots = snapshots
        self.interval = interval
        self.job_id = job_id
        self.count = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"foredeck-live-{self.job_id}"
        )

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
            if self._stop.is_set():
                return
            try:
                stats = await asyncio.to_thread(self.snapshots.snapshot)
            except Exception as exc:
                # The next snapshot retries; say so once per failing stretch, not every interval.
                level = logging.DEBUG if self._failing else logging.WARNING
                log.log(level, "job %d: live snapshot failed: %s", self.job_id, exc)
                self._failing = True
                continue
            self._failing = False
            self.count += 1
            if stats.uploaded:
                log.debug(
                    "job %d: live snapshot %d: %d files, %d bytes in %.3fs (%d cut, %d deferred)",
                    self.job_id,
                    self.count,
                    len(stats.uploaded),
                    stats.bytes,
                    stats.seconds,
                    len(stats.cut),
                    stats.deferred,
                )

    async def stop(self) -> None:
        """End the loop; once this returns no snapshot can overwrite the final publish."""
        self._stop.set()
        await asyncio.to_thread(self.snapshots.close)
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
