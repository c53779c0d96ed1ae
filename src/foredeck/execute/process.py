"""Host processes for steps, each in its own process group so that its whole tree can be killed.

Why not `asyncio.create_subprocess_exec`: on Python 3.11 it watches every child from a thread of
its own (`ThreadedChildWatcher`), which alone costs more than half again the time of a shell
loop on short steps. We start the child as `subprocess.Popen(argv, start_new_session=True)`
would, or with a new process group only where foredeck has no terminal (an argv list, never a
shell; `spawn.py`) and let the event loop watch its exit through a pidfd and its output through
a reader callback: what Python 3.12's `PidfdChildWatcher` does, without touching the
process-wide child watcher of the caller's loop.

The exit notification does not reap the child, so the process group is killed while the zombie
leader still pins its id: a group id can never be recycled between "the step ended" and "kill
whatever it left behind".
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from foredeck.execute import spawn
from foredeck.execute.orphans import REAPER
from foredeck.execute.spawn import StepProcess

READ_CHUNK = 65536
# After a step's leader exits and its group is killed, how long to wait for its output pipe to
# close; only a process that escaped the group (setsid) can hold it longer.
PIPE_DRAIN_SECONDS = 1.0

StopCause = Literal["deadline", "cancel"]


class ProcessGroups:
    """Every live process group of a run, so that each exit path can kill what is left.

    Also holds the run's `/dev/null` for the steps' stdin, opened once rather than per step.
    """

    def __init__(self) -> None:
        self._pgids: set[int] = set()
        self._devnull: int | None = None

    @property
    def devnull(self) -> int:
        if self._devnull is None:
            self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        return self._devnull

    def close(self) -> None:
        """Kill what is left and release the descriptor."""
        self.kill_all()
        if self._devnull is not None:
            os.close(self._devnull)
            self._devnull = None

    def add(self, pgid: int) -> None:
        self._pgids.add(pgid)

    def discard(self, pgid: int) -> None:
        self._pgids.discard(pgid)

    def __len__(self) -> int:
        return len(self._pgids)

    def kill_all(self) -> None:
        for pgid in list(self._pgids):
            killpg(pgid, signal.SIGKILL)


def killpg(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass(frozen=True)
class ProcessOutcome:
    returncode: int
    stopped: StopCause | None = None  # why we killed it, if we did
    leftovers: int = 0
    """Processes the step left running outside its group (`orphans.py`), killed at its end."""


class _PipeReader:
    """Feeds a pipe's bytes to `sink` as they arrive; `closed` resolves at end of file."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, fd: int, sink: Callable[[bytes], None]
    ) -> None:
        self._loop = loop
        self._fd = fd
        self._sink = sink
        self.closed: asyncio.Future[None] = loop.create_future()
        fcntl.fcntl(fd, fcntl.F_SETFL, os.O_NONBLOCK)  # a fresh pipe end has no other flags
        loop.add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._sink(data)
        else:
            self.close()

    def close(self) -> None:
        if self.closed.done():
            return
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self.closed.set_result(None)


class _ExitWatcher:
    """Resolves `exited` when the child has exited, without reaping it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int) -> None:
        self._loop = loop
        self.exited: asyncio.Future[None] = loop.create_future()
        self._pidfd: int | None = None
        self._thread: asyncio.Future[None] | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            # No pidfd (old kernel, not Linux): a thread that waits without reaping.
            self._thread = loop.run_in_executor(None, _wait_no_reap, pid)
            self._thread.add_done_callback(lambda _: self._set())
        else:
            loop.add_reader(self._pidfd, self._on_pidfd)

    def _on_pidfd(self) -> None:
        self._close_pidfd()
        self._set()

    def _set(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def close(self) -> None:
        self._close_pidfd()


async def _first(
    loop: asyncio.AbstractEventLoop, futures: list[asyncio.Future[None]], deadline: float | None
) -> None:
    """Until one of `futures` is done or `deadline` (loop time) passes.

    A leaner `asyncio.wait(..., return_when=FIRST_COMPLETED)`: this runs several times per
    step, and asyncio.wait's bookkeeping showed up as a tenth of a short step's cost.
    """
    if any(future.done() for future in futures):
        return
    wakeup: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not wakeup.done():
            wakeup.set_result(None)

    for future in futures:
        future.add_done_callback(wake)
    timer = loop.call_at(deadline, wake) if deadline is not None else None
    try:
        await wakeup
    finally:
        for future in futures:
            future.remove_done_callback(wake)
        if timer is not None:
            timer.cancel()


def _wait_no_reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[bytes, bytes] | Mapping[str, str],
    sink: Callable[[bytes], None],
    groups: ProcessGroups,
    deadline: float | None = None,
    cancel: asyncio.Future[None] | None = None,
    grace: float = 3.0,
    marker: str | None = None,
    stdout_sink: Callable[[bytes], object] | None = None,
    stderr_sink: Callable[[bytes], object] | None = None,
) -> ProcessOutcome:
    """Run `argv` in a new process group until it exits, `deadline` (loop time) passes or `cancel`.

    stdout and stderr share one pipe, so `sink` sees them interleaved in the order written;
    with `stdout_sink` or `stderr_sink` (Tekton's `stdoutConfig`), each stream has its own pipe,
    fed to `sink` and to its own sink, and the order between the two is only approximate.
    On a deadline or cancel the group gets SIGTERM, then SIGKILL after `grace` seconds. Whatever
    ends the step, every process left in its group is killed before this returns or raises;
    with a `marker` (the step's `FOREDECK_RUN`, already in `env`), so is every process that left
    the group (see `orphans.py`). Raises OSError when the program cannot be started.
    """
    loop = asyncio.get_running_loop()
    split = stdout_sink is not None or stderr_sink is not None
    proc, read_fd, err_read = await _spawn(argv, cwd, env, groups, marker, split=split)
    pgid = proc.pid
    groups.add(pgid)
    REAPER.leader_started(pgid, marker)
    leftovers = 0
    reader: _PipeReader | None = None
    err_reader: _PipeReader | None = None
    watcher: _ExitWatcher | None = None
    stopped: StopCause | None = None
    try:
        reader = _PipeReader(loop, read_fd, _tee(sink, stdout_sink))
        if split:
            err_reader = _PipeReader(loop, err_read, _tee(sink, stderr_sink))
        watcher = _ExitWatcher(loop, proc.pid)
        waiters = [watcher.exited] if cancel is None else [watcher.exited, cancel]
        await _first(loop, waiters, deadline)
        if not watcher.exited.done():
            stopped = "cancel" if cancel is not None and cancel.done() else "deadline"
            killpg(pgid, signal.SIGTERM)
            await _first(loop, [watcher.exited], loop.time() + grace)
        # The leader is a zombie now (or ignored SIGTERM): nothing of the step may outlive it.
        killpg(pgid, signal.SIGKILL)
        await watcher.exited
        if marker is not None:  # while the zombie leader pins the group id
            leftovers = await REAPER.sweep(marker)
        returncode = proc.wait()
        drained = loop.time() + PIPE_DRAIN_SECONDS
        await _first(loop, [reader.closed], drained)
        if err_reader is not None:
            await _first(loop, [err_reader.closed], drained)
    finally:
        if proc.returncode is None:  # an error or a cancel interrupted us: kill and reap
            killpg(pgid, signal.SIGKILL)
            if marker is not None:
                REAPER.sweep_now(marker)
            proc.wait()
        REAPER.leader_ended(pgid, marker)
        groups.discard(pgid)
        if watcher is not None:
            watcher.close()
        if reader is not None:
            reader.close()
        else:
            os.close(read_fd)
        if err_reader is not None:
            err_reader.close()
        elif split:
            os.close(err_read)
    return ProcessOutcome(returncode, stopped, leftovers)


async def _spawn(
    argv: Sequence[str],
    cwd: str,
    env: Mapping[bytes, bytes] | Mapping[str, str],
    groups: ProcessGroups,
    marker: str | None,
    *,
    split: bool,
) -> tuple[StepProcess, int, int]:
    """Start the step (`spawn.py`): the process and the read ends of its output pipe(s)
    (stderr's is -1 unless `split`)."""
    read_fd, write_fd = os.pipe()
    err_read, err_write = os.pipe() if split else (-1, write_fd)
    if marker is not None:
        REAPER.step_starting(marker)
    try:
        proc = spawn.start(
            argv, cwd=cwd, env=env, stdin=groups.devnull, stdout=write_fd, stderr=err_write
        )
    except BaseException:
        os.close(read_fd)
        if split:
            os.close(err_read)
        if marker is not None:
            REAPER.leader_ended(0, marker)  # no leader: forget the step
        raise
    finally:
        os.close(write_fd)
        if split:
            os.close(err_write)
    return proc, read_fd, err_read


def _tee(
    sink: Callable[[bytes], None], extra: Callable[[bytes], object] | None
) -> Callable[[bytes], None]:
    if extra is None:
        return sink

    def both(data: bytes) -> None:
        sink(data)
        extra(data)

    return both
