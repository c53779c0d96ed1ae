"""Live logs: step output goes line by line to the task's log and to the run's `build-log.txt`.

Lines are handled as bytes (no decoding) and stamped once per chunk read from the pipe, not once
per line: all lines of a chunk arrived at the same moment, and a step that prints a lot should
not pay for a date formatting per line. Files are unbuffered, so `tail -f` sees each chunk as it
is written, and never fsynced (a log is not worth a disk flush per line).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

# A line longer than this is cut, so a step printing without newlines cannot grow our memory.
MAX_LINE_BYTES = 64 * 1024

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


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


class LogFile:
    """An append-only, unbuffered log file that outlives write errors (a full disk).

    A raw descriptor rather than a file object: one system call to open instead of four. With
    `lazy`, the file and its directory are created by the first write: a task that prints
    nothing costs no directory and no empty file.
    """

    def __init__(self, path: str | Path, *, lazy: bool = False) -> None:
        self.path = str(path)
        self.error: OSError | None = None
        self.created = False
        self._fd: int | None = None
        self._closed = False
        if not lazy:
            self._open()

    def _open(self) -> int:
        self._fd = fd = os.open(self.path, _FLAGS, 0o644)
        self.created = True
        return fd

    def write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        try:
            fd = self._fd
            if fd is None:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                fd = self._open()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:  # keep the run going: losing a log line must not fail a task
            self.error = exc
            self.close()

    def close(self) -> None:
        self._closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class TaskLogger:
    """Writes one task's lines: `[step]` in its own log, `[task/step]` in the build log."""

    def __init__(self, task: str, task_log: LogFile, build_log: LogFile) -> None:
        self._task = task.encode(errors="replace")
        self._task_log = task_log
        self._build_log = build_log

    def message(self, text: str, *, own: bool = True) -> None:
        """An executor message about this task (attempts, exit codes, timeouts); `own=False`
        writes it to the build log only."""
        line = text.encode(errors="replace")
        stamp = timestamp()
        if own:
            self._task_log.write(b"%s [foredeck] %s\n" % (stamp, line))
        self._build_log.write(b"%s [%s/foredeck] %s\n" % (stamp, self._task, line))

    def step_output(self, step: str) -> StepOutput:
        return StepOutput(self, step.encode(errors="replace"))

    def write_lines(self, step: bytes, lines: list[bytes]) -> None:
        stamp = timestamp()
        own = b"%s [%s] " % (stamp, step)
        shared = b"%s [%s/%s] " % (stamp, self._task, step)
        self._task_log.write(b"".join([own + line + b"\n" for line in lines]))
        self._build_log.write(b"".join([shared + line + b"\n" for line in lines]))

    def close(self) -> None:
        self._task_log.close()


class StepOutput:
    """Splits a step's output stream into lines; a trailing partial line waits for its end."""

    def __init__(self, logger: TaskLogger, step: bytes) -> None:
        self._logger = logger
        self._step = step
        self._pending = b""

    def feed(self, data: bytes) -> None:
        lines = (self._pending + data).split(b"\n") if self._pending else data.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_LINE_BYTES:
            lines.append(self._pending)
            self._pending = b""
        if lines:
            self._logger.write_lines(self._step, [line.rstrip(b"\r") for line in lines])

    def flush(self) -> None:
        if self._pending:
            self._logger.write_lines(self._step, [self._pending])
            self._pending = b""
