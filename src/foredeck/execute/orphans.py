"""What an unsandboxed step leaves running: found, killed and reaped when the step ends.

In bubblewrap (`sandbox.py`) a step has a PID namespace of its own, so everything it starts ends
with it. Without bubblewrap (`sandbox.mode: none`, a machine where bwrap cannot run, `foredeck
run`) a step is a process group of its own (`process.py`), and a child that starts a group or
a session of its own (`setsid`, a daemon, a shell's job control) or is double-forked leaves
that group. Two things find
such processes:

- **Subreaper.** This process makes itself a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`):
  an orphan of a step is re-parented to it instead of to init. When a step ends, every child of
  this process that belongs to the step is killed together with its descendants, and reaped:
  those in the step's process group (whose id is the leader's pid, pinned while the leader is an
  unreaped zombie) and those carrying the step's marker.
- **Marker.** Every unsandboxed step gets `FOREDECK_RUN=<owner>/<run>/<step number>` in its
  environment, and everything it starts inherits it. After foredeck itself died (`kill -9`), its
  steps' processes belong to init; a restarted controller finds them by the marker of a dead
  owner (`kill_marked`). A marked orphan that reaches this process while its step is not running
  here is such a leftover too, and is killed.

Only processes attributed to a step are ever reaped: other code of this process (git,
`subprocess.run`) waits for its own children, and reaping one of them would steal its exit
status. So a zombie is reaped when it is in a running step's group, or was seen alive with a
marker (`adopted`: each sweep, and a scan every `SCAN_SECONDS` while unsandboxed steps run, note
them). Limits, which bubblewrap does not have: an orphan that left the step's group and ended
before any scan saw it stays a zombie of this process until it exits; one that also cleared its
environment (`setsid env -i ...`) is not found at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

MARKER = "FOREDECK_RUN"
_MARKER_ENTRY = MARKER.encode() + b"="
_PR_SET_CHILD_SUBREAPER = 36
SCAN_SECONDS = 1.0
"""How often a run with unsandboxed steps notes the orphans of its running steps."""
KILL_WAIT_SECONDS = 5.0
"""How long a sweep waits for killed processes to be gone (SIGKILL cannot be refused, but a
process in uninterruptible sleep dies when the kernel lets it)."""
ADOPTED = frozenset({"conmon"})
"""Orphans that reach this process from what it runs but no code of it waits for: podman's
container monitor of a step in a container (it leaves podman's session and outlives it), reaped
when it ends."""
_MAX_TREE = 100_000
_CHILDREN_READ = 64 * 1024


@dataclass(frozen=True)
class ProcStat:
    """The fields of `/proc/<pid>/stat` a sweep needs; they stay readable for a zombie."""

    pid: int
    state: str
    ppid: int
    group: int
    """The process group id (a step's is its leader's pid)."""
    start: int
    """Clock ticks from boot to the process's start: with the pid, it names one process."""
    name: str = ""
    """The command name (`comm`)."""

    @property
    def zombie(self) -> bool:
        return self.state == "Z"


def read_stat(pid: int) -> ProcStat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    close = data.rfind(b")")  # the command name may hold spaces and ")"
    fields = data[close + 2 :].split()
    name = data[data.find(b"(") + 1 : close].decode(errors="replace")
    try:
        start = int(fields[19])
        return ProcStat(pid, fields[0].decode(), int(fields[1]), int(fields[2]), start, name)
    except (IndexError, ValueError):
        return None


def read_marker(pid: int) -> str | None:
    """The process's `FOREDECK_RUN`, if it has one (None for a zombie: its environment is gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if data.startswith(_MARKER_ENTRY):
        at = 0
    else:
        at = data.find(b"\0" + _MARKER_ENTRY) + 1
        if at == 0:
            return None
    end = data.find(b"\0", at)
    value = data[at + len(_MARKER_ENTRY) : end if end >= 0 else len(data)]
    return value.decode(errors="replace")


def children(pid: int) -> list[int]:
    """The children of every thread of `pid` (`/proc/<pid>/task/<tid>/children`)."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        found += _thread_children(pid, tid)
    return found


def _thread_children(pid: int, tid: int | str) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
            return [int(child) for child in handle.read().split()]
    except (OSError, ValueError):
        return []


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants, parents before children."""
    order = [pid]
    seen = {pid}
    for parent in order:
        if len(order) >= _MAX_TREE:
            break
        for child in children(parent):
            if child not in seen:
                seen.add(child)
                order.append(child)
    return order


def parse_marker(marker: str) -> tuple[str, str, str] | None:
    """(owner, run, step) of `<owner>/<run>/<step>`, None for anything else."""
    parts = marker.split("/")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


class Reaper:
    """This process's side: the subreaper attribute, the running steps, the sweeps.

    One per process (`REAPER`): the attribute and the children are the process's, whichever
    thread or event loop runs a step. Passes are short and hold a lock.
    """

    def __init__(self, own_marker: str | None = None) -> None:
        """`own_marker`: this process's own `FOREDECK_RUN`, when it runs inside a step
        (foredeck testing foredeck): its other children inherit it and are not leftovers."""
        self._lock = threading.Lock()
        self._problem: str | None = None
        self._enabled = False
        self._leaders: set[int] = set()
        self._steps: dict[str, int] = {}
        """marker -> process group id of each unsandboxed step running here (0 while starting)."""
        self._groups: set[int] = set()
        self._adopted: dict[int, tuple[int, str | None]] = {}
        """pid -> (start, marker) of step processes seen alive (or killed), to reap later."""
        self._pid = os.getpid()
        self._children_fd: int | None = None
        self._own_marker = own_marker

    def enable(self) -> str | None:
        """Become a child subreaper (once); why it cannot be done here, or None."""
        with self._lock:
            if self._enabled or self._problem is not None:
                return self._problem
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
                    self._problem = os.strerror(ctypes.get_errno())
                else:
                    # The kernel re-parents orphans to the first live thread: the main one.
                    path = f"/proc/{self._pid}/task/{self._pid}/children"
                    self._children_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except (OSError, AttributeError) as exc:  # not Linux, or no children files
                self._problem = str(exc)
            self._enabled = self._problem is None
            return self._problem

    def _children(self) -> list[int]:
        """This process's (main thread's) children: a `pread` of a file kept open, a small
        fraction of opening it for every step."""
        if self._children_fd is None:
            return []
        try:
            data = os.pread(self._children_fd, _CHILDREN_READ, 0)
            if len(data) == _CHILDREN_READ:  # thousands of children: read it whole
                return _thread_children(self._pid, self._pid)
            return [int(child) for child in data.split()]
        except (OSError, ValueError):
            return []

    # -- what runs here ----------------------------------------------------------------------

    def step_starting(self, marker: str) -> None:
        """Before the step's process starts: its orphans are not leftovers from then on."""
        with self._lock:
            self._steps[marker] = 0

    def leader_started(self, pid: int, marker: str | None) -> None:
        """A step's main process (its pid is its group's id): its exit status is its
        runner's, so it is never reaped here."""
        with self._lock:
            self._leaders.add(pid)
            if marker is not None:
                self._steps[marker] = pid
                self._groups.add(pid)

    def leader_ended(self, pid: int, marker: str | None) -> None:
        """After the runner reaped it (and swept): its group id may be recycled now."""
        with self._lock:
            self._leaders.discard(pid)
            if marker is not None:
                self._steps.pop(marker, None)
                self._groups.discard(pid)

    # -- sweeps ------------------------------------------------------------------------------

    def scan(self) -> int:
        """One pass: note the orphans of running steps, reap their zombies, kill leftovers of
        steps that no longer run here; returns the number killed."""
        return len(self._pass(None)[0])

    async def sweep(self, marker: str, deadline: float = KILL_WAIT_SECONDS) -> int:
        """Kill and reap every process of the ended step `marker` (while its leader is still an
        unreaped zombie); returns how many were killed. Waits for them, up to `deadline` s."""
        killed, pending = self._pass(marker)
        end = time.monotonic() + deadline
        pause = 0.002
        while pending and time.monotonic() < end:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)
            more, pending = self._pass(marker)
            killed |= more
        return len(killed)

    def sweep_now(self, marker: str) -> int:
        """`sweep` without waiting (error paths): what is killed now is reaped by later passes."""
        return len(self._pass(marker)[0])

    def _pass(self, target: str | None) -> tuple[set[int], int]:
        """(pids killed, how many of `target`'s are still there): one look at the children."""
        with self._lock:
            kids = self._children()
            killed: set[int] = set()
            target_group = self._steps.get(target) if target is not None else None
            for pid in kids:
                if pid in self._leaders:
                    continue
                stat = read_stat(pid)
                if stat is None or stat.ppid != self._pid:
                    continue
                known = self._adopted.get(pid)
                if known is not None and known[0] != stat.start:
                    del self._adopted[pid]  # a new process with a recycled pid
                    known = None
                if stat.zombie:
                    if known is not None or stat.group in self._groups or stat.name in ADOPTED:
                        _reap(pid)
                        self._adopted.pop(pid, None)
                    continue
                marker = read_marker(pid) if known is None else known[1]
                if marker is not None and marker == self._own_marker:
                    marker = None  # inherited from this process, not set for a step
                mine = target is not None and (marker == target or stat.group == target_group)
                running = marker in self._steps or stat.group in self._groups
                if mine or (marker is not None and not running):
                    killed.update(self._kill_tree(pid, target if mine else marker))
                elif running:
                    self._adopted[pid] = (stat.start, marker)
            return killed, self._pending(target)

    def _kill_tree(self, pid: int, marker: str | None) -> list[int]:
        """SIGKILL `pid` and its descendants, all noted for reaping (called with the lock)."""
        pids = tree(pid)
        for one in pids:
            stat = read_stat(one)
            if stat is not None:
                self._adopted[one] = (stat.start, marker)
            _kill(one)
        return pids

    def _pending(self, target: str | None) -> int:
        """Killed processes of `target` not reaped yet (reaping those that now can be)."""
        if target is None:
            return 0
        left = 0
        for pid, (start, marker) in list(self._adopted.items()):
            if marker != target:
                continue
            stat = read_stat(pid)
            if stat is None or stat.start != start:
                del self._adopted[pid]
            elif stat.zombie and stat.ppid == self._pid:
                _reap(pid)
                del self._adopted[pid]
            else:
                left += 1
        return left


REAPER = Reaper(os.environ.get(MARKER))


# -- after foredeck died ----------------------------------------------------------------------


def _pids() -> Iterable[int]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    return (int(name) for name in names if name.isdigit())


def _cwd_in(pid: int, root: str) -> bool:
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return cwd == root or cwd.startswith(root + "/")


def kill_marked(
    select: Callable[[str], bool],
    *,
    cwd_root: str | Path | None = None,
    wait: float = KILL_WAIT_SECONDS,
) -> list[int]:
    """Kill every process (and its descendants) whose marker `select` accepts, or whose
    working directory is inside `cwd_root`; wait up to `wait` s for them to be gone. Returns
    the pids killed. For leftovers of dead runs: a scan of all of `/proc`, not for every step.
    """
    me = os.getpid()
    root = os.path.realpath(cwd_root) if cwd_root is not None else None
    found: dict[int, int] = {}
    for pid in _pids():
        if pid == me or pid in found:
            continue
        marker = read_marker(pid)
        if (marker is not None and select(marker)) or (root is not None and _cwd_in(pid, root)):
            for one in tree(pid):
                stat = read_stat(one)
                if stat is not None and one != me:
                    found[one] = stat.start
    for pid in found:
        _kill(pid)
    end = time.monotonic() + wait
    alive = dict(found)
    while alive:
        for pid, start in list(alive.items()):
            stat = read_stat(pid)
            if stat is None or stat.start != start:
                del alive[pid]
            elif stat.zombie:
                if stat.ppid == me:
                    _reap(pid)
                del alive[pid]  # dead: only its parent's wait is missing
        if not alive or time.monotonic() >= end:
            break
        time.sleep(0.01)
    return sorted(found)


def new_owner() -> str:
    """`host:pid:random`: who runs a step (a controller's owner id has the same shape), so that
    a controller on the same host can tell when it is dead (its pid is gone)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
