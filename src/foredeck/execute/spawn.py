"""Start a step's process without holding up the event loop: glibc's `posix_spawn` in a thread.

Why: `subprocess.Popen` starts a child with vfork and returns once the child has exec'd; on
Python 3.11 it holds the GIL all that time, so the whole event loop waits. A step's child first
starts a session of its own (setsid), and on Linux with autogroup scheduling a new session is a
new scheduling group: on a busy machine the child can wait milliseconds for a CPU before it
execs (measured: 1 to 4 ms a step under a load average of 8, most of a short task's time). glibc's
`posix_spawn` does the same work in the child (clone with CLONE_VFORK, setsid, dup2, chdir, close
the other descriptors, exec), and called through ctypes it releases the GIL, so a worker thread
waits instead of the loop.

The child is the one `Popen(argv, cwd=, env=, stdin=, stdout=, stderr=, start_new_session=True)`
starts: `argv[0]` without a slash is looked up in the `PATH` of `env` (the first exec error
other than "not found" is reported, as Popen does), descriptors other than 0-2 are closed, the
caller's signal mask is kept, SIGPIPE and SIGXFSZ are reset to their defaults (Python ignores
them; `restore_signals`), a NUL byte or a `=` in a variable name is a ValueError. One
difference: glibc leaves its two internal signals (32 and 33) ignored in the child, as in every
program its `posix_spawn` starts (a glibc program sets them up itself). Where glibc lacks what
this needs (not Linux, another C library, glibc older than 2.34), or a descriptor to hand over
is 0, 1 or 2, `Popen` starts the child, as before.

A caller cancelled while its child starts waits (blocking, on the cancel path only) for the
worker to be done with its descriptors; the child, if it started, is killed and reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

_POSIX_SPAWN_SETSIGDEF = 0x04  # glibc's <spawn.h>
_POSIX_SPAWN_SETSIGMASK = 0x08
_POSIX_SPAWN_SETSID = 0x80
_ATTR_BYTES = 1024  # posix_spawnattr_t is 336 bytes on glibc's 64-bit targets
_ACTIONS_BYTES = 256  # posix_spawn_file_actions_t is 80
_SIGSET_BYTES = 128
_RESTORED = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))
_WORKERS = 4


class StepProcess(Protocol):
    """What `process.run_process` uses of a started child (a `Popen` is one)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def wait(self) -> int: ...


class SpawnedChild:
    """A child started by `posix_spawn`: waited for (reaped) by `wait`, like a `Popen`'s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        while self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped elsewhere: as Popen, the status is lost
                self.returncode = 0
            except InterruptedError:  # pragma: no cover - PEP 475 retries already
                continue
            else:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


class _Libc:
    """The glibc functions `posix_spawn` needs, typed for ctypes."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        ptr, num, text = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
        strings = ctypes.POINTER(ctypes.c_char_p)
        self.spawn = _typed(libc.posix_spawn, ctypes.POINTER(num), text, ptr, ptr, strings, strings)
        self.actions_init = _typed(libc.posix_spawn_file_actions_init, ptr)
        self.actions_destroy = _typed(libc.posix_spawn_file_actions_destroy, ptr)
        self.add_dup2 = _typed(libc.posix_spawn_file_actions_adddup2, ptr, num, num)
        self.add_chdir = _typed(libc.posix_spawn_file_actions_addchdir_np, ptr, text)
        self.add_closefrom = _typed(libc.posix_spawn_file_actions_addclosefrom_np, ptr, num)
        self.attr_init = _typed(libc.posix_spawnattr_init, ptr)
        self.set_flags = _typed(libc.posix_spawnattr_setflags, ptr, ctypes.c_short)
        self.set_sigmask = _typed(libc.posix_spawnattr_setsigmask, ptr, ptr)
        self.set_sigdefault = _typed(libc.posix_spawnattr_setsigdefault, ptr, ptr)
        self.sigemptyset = _typed(libc.sigemptyset, ptr)
        self.sigaddset = _typed(libc.sigaddset, ptr, num)


def _typed(function: Any, *argtypes: Any) -> Any:
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


def _load() -> _Libc | None:
    """glibc's functions, or None where this is not glibc 2.34 or later on Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p  # glibc only
        libc.gnu_get_libc_version.argtypes = ()
        if not libc.gnu_get_libc_version():
            return None
        return _Libc(libc)  # AttributeError where a function is missing (glibc < 2.34)
    except (OSError, AttributeError):
        return None


_LIBC = _load()
_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_attributes: dict[frozenset[int], ctypes.Array[ctypes.c_char]] = {}


def available() -> bool:
    """Whether children are started by `posix_spawn` in a thread (else by Popen)."""
    return _LIBC is not None


async def start(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[bytes, bytes] | Mapping[str, str],
    stdin: int,
    stdout: int,
    stderr: int,
) -> StepProcess:
    """Start `argv` in a new session with these descriptors as 0, 1 and 2 (see the module
    docstring). Raises OSError when it cannot start, ValueError for an impossible argument.
    If the caller is cancelled while the child starts, the child is killed and reaped."""
    libc = _LIBC
    if libc is None or not argv or min(stdin, stdout, stderr) < 3:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    request = _Request(libc, argv, cwd, env, (stdin, stdout, stderr))
    loop = asyncio.get_running_loop()
    try:
        pid = await loop.run_in_executor(_pool(), request.run)
    except asyncio.CancelledError:
        request.abandon()
        raise
    return SpawnedChild(pid)


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(_WORKERS, thread_name_prefix="foredeck-spawn")
        return _executor


def _after_fork() -> None:
    """A forked child has none of its parent's workers: it starts its own."""
    global _executor, _lock
    _executor = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


class _Request:
    """One child to start, built in the loop's thread (the arguments checked, the caller's
    signal mask read), started in a worker."""

    def __init__(
        self,
        libc: _Libc,
        argv: Sequence[str],
        cwd: str,
        env: Mapping[bytes, bytes] | Mapping[str, str],
        fds: tuple[int, int, int],
    ) -> None:
        self.libc = libc
        args = [os.fsencode(arg) for arg in argv]
        entries = []
        for key, value in env.items():  # the executor's are bytes already: no fsencode calls
            name = key if isinstance(key, bytes) else os.fsencode(key)
            if b"=" in name:
                raise ValueError("illegal environment variable name")
            entries.append(
                name + b"=" + (value if isinstance(value, bytes) else os.fsencode(value))
            )
        if b"\0" in b"".join(args) or b"\0" in b"".join(entries):
            raise ValueError("embedded null byte")
        self.candidates = _candidates(args[0], env)
        self.filename = argv[0]
        self.argv = (ctypes.c_char_p * (len(args) + 1))(*args, None)
        self.envp = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
        self.cwd = os.fsencode(cwd)
        self.fds = fds
        self.attributes = _attributes_for(libc, signal.pthread_sigmask(signal.SIG_BLOCK, []))
        self._lock = threading.Lock()
        self._abandoned = False
        self._busy = threading.Lock()  # held by the worker while it starts the child
        self._pid: int | None = None  # once started, unless abandoned by then

    def run(self) -> int:
        """In a worker: start the child, unless the caller has gone already."""
        with self._lock:
            if self._abandoned:
                raise OSError(errno.ECANCELED, os.strerror(errno.ECANCELED), self.filename)
            self._busy.acquire()
        try:
            return self._run()
        finally:
            self._busy.release()

    def _run(self) -> int:
        """Try each candidate path as Popen's child does."""
        first_error = 0
        last_error = errno.ENOENT
        for path in self.candidates:
            pid = ctypes.c_int(0)
            code = self._spawn(path, pid)
            if code == 0:
                return self._started(pid.value)
            last_error = code
            if code not in (errno.ENOENT, errno.ENOTDIR) and not first_error:
                first_error = code
        code = first_error or last_error
        raise OSError(code, os.strerror(code), self.filename)

    def _spawn(self, path: bytes, pid: ctypes.c_int) -> int:
        """posix_spawn's error number (0: started, its pid in `pid`)."""
        libc = self.libc
        actions = ctypes.create_string_buffer(_ACTIONS_BYTES)
        if libc.actions_init(actions):
            return errno.ENOMEM
        try:
            for target, fd in enumerate(self.fds):
                if libc.add_dup2(actions, fd, target):
                    return errno.ENOMEM
            if libc.add_chdir(actions, self.cwd) or libc.add_closefrom(actions, 3):
                return errno.ENOMEM
            code: int = libc.spawn(
                ctypes.byref(pid), path, actions, self.attributes, self.argv, self.envp
            )
            return code
        finally:
            libc.actions_destroy(actions)

    def _started(self, pid: int) -> int:
        """Hand the child to the caller, or stop it if the caller has gone."""
        with self._lock:
            if not self._abandoned:
                self._pid = pid
                return pid
        _kill_and_reap(pid)  # nobody else knows of it
        return pid

    def abandon(self) -> None:
        """The caller was cancelled: no child is left. A start under way is waited for (its
        descriptors stay the caller's until then: they are closed once this returns); a child
        already handed over is killed here, one started after the flag by the worker."""
        with self._lock:
            self._abandoned = True
        with self._busy:
            pass
        with self._lock:
            pid, self._pid = self._pid, None
        if pid is not None:
            _kill_and_reap(pid)


def _kill_and_reap(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # its session's group: the child is its leader
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _candidates(executable: bytes, env: Mapping[bytes, bytes] | Mapping[str, str]) -> list[bytes]:
    """The paths Popen's child tries to exec, in order: `argv[0]` itself when it has a directory
    part, else `argv[0]` in each directory of the `PATH` in `env`."""
    if os.path.dirname(executable):
        return [executable]
    # get_exec_path reads a bytes `PATH` key too (typeshed says str only)
    directories = os.get_exec_path(env)  # type: ignore[arg-type]
    return [os.path.join(os.fsencode(d), executable) for d in directories]


def _attributes_for(libc: _Libc, mask: set[int | signal.Signals]) -> ctypes.Array[ctypes.c_char]:
    """The spawn attributes for a signal mask: new session, that mask, Python's ignored signals
    back to their defaults. One per mask, kept: posix_spawn only reads them."""
    key = frozenset(int(sig) for sig in mask)
    with _lock:
        known = _attributes.get(key)
        if known is not None:
            return known
        attributes = ctypes.create_string_buffer(_ATTR_BYTES)
        blocked = ctypes.create_string_buffer(_SIGSET_BYTES)
        defaults = ctypes.create_string_buffer(_SIGSET_BYTES)
        failed = libc.attr_init(attributes) or libc.sigemptyset(blocked)
        failed = failed or libc.sigemptyset(defaults)
        for sig in key:
            libc.sigaddset(blocked, sig)  # glibc refuses its internal signals: never blocked
        for sig in _RESTORED:
            failed = failed or libc.sigaddset(defaults, int(sig))
        flags = _POSIX_SPAWN_SETSID | _POSIX_SPAWN_SETSIGMASK | _POSIX_SPAWN_SETSIGDEF
        failed = failed or libc.set_flags(attributes, flags)
        failed = failed or libc.set_sigmask(attributes, blocked)
        failed = failed or libc.set_sigdefault(attributes, defaults)
        if failed:
            raise OSError(errno.EINVAL, "posix_spawn attributes could not be set")
        _attributes[key] = attributes
        return attributes
