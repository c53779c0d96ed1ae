"""Live logs: every line a step prints is stored once, in the run's `build-log.txt`.

A line goes to the build log as `<time> [task/step] line`, which Prow's tools read; the task's
own log is an index of the stretches of the build log that hold its lines (`LogIndex`, format
and reader in `storage/tasklog.py`). So a job's output costs its size on disk, not twice.

Lines are handled as bytes (no decoding) and stamped once per chunk read from the pipe, not once
per line: all lines of a chunk arrived at the same moment, and a step that prints a lot should
not pay for a date formatting per line. Files are unbuffered, so `tail -f` sees each chunk as it
is written, and never fsynced (a log is not worth a disk flush per line).

Secrets are censored before anything is written (`foredeck.censor`, docs/security.md): a step's
output as a stream, before it is split into lines (a secret split across two pipe reads, or
across the cut of an over-long line, is still caught), and the executor's own messages whole.

A run's step output may be capped (`OutputLimit`): once the build log holds that many bytes of
it, further output is dropped (the step keeps running and its pipe keeps being drained), one
line says from where, and each step whose output was cut ends with a line saying how much.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from foredeck.censor import NO_CENSOR, Censor
from foredeck.storage.tasklog import ENTRY

# A line longer than this is cut, so a step printing without newlines cannot grow our memory.
MAX_LINE_BYTES = 64 * 1024
CUT = "output cut:"
"""Starts the executor's lines about dropped output."""

_stamp_second = -1
_stamp_prefix = b""


def timestamp(now: float | None = None) -> bytes:
    """`2024-05-01T12:00:00.123Z`, with the per-second part cached."""
    global _stamp_second, _stamp_prefix
    if now is None:
        now = time.time()
    second = int(now)
    if second != _stamp_second:
        _stamp_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        _stamp_second = second
    millis = int((now - second) * 1000)
    return b"%s.%03dZ" % (_stamp_prefix, millis)


_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
_REWRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


class _LogOutput:
    """A file a run writes as it goes, surviving write errors (a full disk): the error is kept
    and the file closed, the run goes on. A raw descriptor rather than a file object: one
    system call to open instead of four. With `lazy`, the file and its directory are created by
    the first write: a task that prints nothing costs no directory and no empty file."""

    _flags = _APPEND

    def __init__(self, path: str | Path, *, lazy: bool = False) -> None:
        self.path = str(path)
        self.error: OSError | None = None
        self.created = False
        self._fd: int | None = None
        self._closed = False
        if not lazy:
            self._open()

    def _open(self) -> int:
        self._fd = fd = os.open(self.path, self._flags, 0o644)
        self.created = True
        return fd

    def _descriptor(self) -> int | None:
        """The open descriptor (opened now if lazy), None once closed."""
        if self._closed:
            return None
        if self._fd is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            return self._open()
        return self._fd

    def _failed(self, exc: OSError) -> None:
        self.error = exc  # keep the run going: losing a log line must not fail a task
        self.close()

    def close(self) -> None:
        self._closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class LogFile(_LogOutput):
    """An append-only, unbuffered log file that knows its size."""

    def __init__(self, path: str | Path, *, lazy: bool = False) -> None:
        self.size = 0
        super().__init__(path, lazy=lazy)

    def _open(self) -> int:
        fd = super()._open()
        self.size = os.fstat(fd).st_size
        return fd

    def write(self, data: bytes) -> int | None:
        """Append `data`; the offset it starts at, or None when it was not written."""
        if not data:
            return None
        try:
            fd = self._descriptor()
            if fd is None:
                return None
            offset = self.size
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            self._failed(exc)
            return None
        self.size += len(data)
        return offset


@dataclass(frozen=True)
class OutputLimit:
    """At most `bytes` of step output in a run's build log; `setting` names where that was
    set, for the line that says output was cut."""

    bytes: int
    setting: str


class BuildLog(LogFile):
    """The run's `build-log.txt`, counting the step output it holds against `limit`; what is
    written to it goes through `censor` first (`TaskLogger`, `RunRecord.log`)."""

    def __init__(
        self, path: str | Path, limit: OutputLimit | None = None, censor: Censor = NO_CENSOR
    ) -> None:
        super().__init__(path)
        self.limit = limit
        self.censor = censor
        self.output = 0
        """Bytes of step output written (stamps and prefixes included)."""
        self.cut = False
        """The limit was reached: step output is dropped from now on."""

    def room(self) -> int | None:
        """Bytes of step output that still fit (None: no limit)."""
        return None if self.limit is None else max(0, self.limit.bytes - self.output)


class LogIndex(_LogOutput):
    """A task's log as stretches of the build log (`storage/tasklog.py`): consecutive lines of
    the task extend the last entry in place, another task's line in between starts a new one."""

    _flags = _REWRITE

    def __init__(self, path: str | Path) -> None:
        self.size = 0
        """The task log's size: the bytes of the build log its entries cover."""
        self._count = 0
        self._start = 0
        self._log_end = -1
        super().__init__(path, lazy=True)

    def add(self, offset: int, length: int) -> None:
        """The build log's bytes `[offset, offset + length)` belong to the task."""
        try:
            fd = self._descriptor()
            if fd is None:
                return
            end = self.size + length
            if self._count and offset == self._log_end:
                _pwrite(fd, ENTRY.pack(self._start, end), (self._count - 1) * ENTRY.size)
            else:
                _pwrite(fd, ENTRY.pack(offset, end), self._count * ENTRY.size)
                self._start = offset
                self._count += 1
        except OSError as exc:
            self._failed(exc)
            return
        self.size = end
        self._log_end = offset + length


def _pwrite(fd: int, data: bytes, offset: int) -> None:
    if os.pwrite(fd, data, offset) != len(data):
        raise OSError(f"short write of a log index entry at {offset}")


class TaskLogger:
    """Writes one task's lines to the build log (`[task/step]`) and notes them in its index."""

    def __init__(self, task: str, index: LogIndex, build_log: BuildLog) -> None:
        self._task = task.encode(errors="replace")
        self._index = index
        self._build_log = build_log

    @property
    def cut(self) -> bool:
        return self._build_log.cut

    def message(self, text: str, *, own: bool = True) -> None:
        """An executor message about this task (attempts, exit codes, timeouts); `own=False`
        leaves it out of the task's log. Never counted against the output limit."""
        said = self._build_log.censor.text(text).encode(errors="replace")
        line = b"%s [%s/foredeck] %s\n" % (timestamp(), self._task, said)
        offset = self._build_log.write(line)
        if own and offset is not None:
            self._index.add(offset, len(line))

    def step_output(self, step: str, censor: Censor | None = None) -> StepOutput:
        """The output of `step`, censored by the run's censor or by `censor`."""
        own = self._build_log.censor if censor is None else censor
        return StepOutput(self, step.encode(errors="replace"), own)

    @property
    def censor(self) -> Censor:
        return self._build_log.censor

    def write_lines(self, step: bytes, lines: list[bytes]) -> int:
        """Write a step's `lines` within the output limit; returns the bytes dropped."""
        prefix = b"%s [%s/%s] " % (timestamp(), self._task, step)
        block = b"".join([prefix + line + b"\n" for line in lines])
        log = self._build_log
        room = log.room()
        dropped = 0
        if room is not None and len(block) > room:
            block, dropped = _fit(prefix, lines, room)
        if block:
            log.output += len(block)
            offset = log.write(block)
            if offset is not None:
                self._index.add(offset, len(block))
        if dropped and log.limit is not None:
            log.cut = True
            self.message(
                f"{CUT} step output after {log.limit.bytes} bytes is dropped ({log.limit.setting})"
            )
        return dropped

    def cut_summary(self, step: bytes, dropped: int) -> None:
        limit = self._build_log.limit
        bound = f" after {limit.bytes} bytes ({limit.setting})" if limit is not None else ""
        name = step.decode(errors="replace")
        self.message(f"{CUT} {dropped} bytes of step {name!r} dropped{bound}")

    def close(self) -> None:
        self._index.close()


def _fit(prefix: bytes, lines: list[bytes], room: int) -> tuple[bytes, int]:
    """The whole lines that fit in `room` bytes as one block, and the bytes of the others."""
    kept = 0
    size = 0
    for line in lines:
        cost = len(prefix) + len(line) + 1
        if size + cost > room:
            break
        size += cost
        kept += 1
    block = b"".join([prefix + line + b"\n" for line in lines[:kept]])
    return block, sum(len(line) + 1 for line in lines[kept:])


class StepOutput:
    """Splits a step's output stream into lines; a trailing partial line waits for its end.

    Once the run's output limit is reached, output is only counted: `flush` says how much was
    dropped."""

    def __init__(self, logger: TaskLogger, step: bytes, censor: Censor) -> None:
        self._logger = logger
        self._step = step
        self._censor = censor.stream()
        self._pending = b""
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        if self._logger.cut:
            self.dropped += len(data)
            return
        self._split(self._censor.feed(data))

    def _split(self, data: bytes) -> None:
        lines = (self._pending + data).split(b"\n") if self._pending else data.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_LINE_BYTES:
            lines.append(self._pending)
            self._pending = b""
        if lines:
            self.dropped += self._logger.write_lines(
                self._step, [line.rstrip(b"\r") for line in lines]
            )

    def flush(self) -> None:
        if not self._logger.cut:
            self._split(self._censor.flush())
        if self._pending:
            if self._logger.cut:
                self.dropped += len(self._pending)
            else:
                self.dropped += self._logger.write_lines(self._step, [self._pending])
            self._pending = b""
        if self.dropped:
            self._logger.cut_summary(self._step, self.dropped)
            self.dropped = 0
