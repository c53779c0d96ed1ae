"""Start a step's process cheaply: glibc's `posix_spawn`, in a process group of its own.

Why: a step's child is the leader of a new process group, so that a cancel or timeout kills
everything it started. `subprocess.Popen(start_new_session=True)` makes that group with a new
session, and on Linux with autogroup scheduling a new session is a new scheduling group: on a
busy machine the child waited 1 to 4 ms for a CPU before it exec'd, while Python held the GIL and
the event loop waited. A session is only needed to leave the controlling terminal (so that a
step that opens `/dev/tty` fails instead of being stopped by SIGTTIN); so the child gets a new
session only when foredeck has a terminal (`foredeck run` in a shell), and otherwise (the
controller, CI) a new process group of foredeck's session and scheduling group, as `xargs`'
children are. glibc's `posix_spawn` does the child's work (clone with CLONE_VFORK, setpgid or
setsid, dup2, chdir, close the other descriptors, exec) with nothing in Python between the
clone and the exec; it is called in the loop's thread: handing it to a worker thread cost more
than it saved except on a heavily loaded machine (bench/local_overhead.py).

The child is the one `Popen(argv, cwd=, env=, stdin=, stdout=, stderr=, start_new_session=or
process_group=)` starts: `argv[0]` without a slash is looked up in the `PATH` of `env` (the
first exec error other than "not found" is reported, as Popen does), descriptors other than 0-2
are closed, the caller's signal mask is kept, SIGPIPE and SIGXFSZ are reset to their defaults
(Python ignores them; `restore_signals`), a NUL byte or a `=` in a variable name is a
ValueError. One difference: glibc leaves its two internal signals (32 and 33) ignored in the
child, as in every program its `posix_spawn` starts (a glibc program sets them up itself).
Where glibc lacks what this needs (not Linux, another C library, glibc older than 2.34), or a
descriptor to hand over is 0, 1 or 2, `Popen` starts the child.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

_POSIX_SPAWN_SETPGROUP = 0x02  # glibc's <spawn.h>
_POSIX_SPAWN_SETSIGDEF = 0x04
_POSIX_SPAWN_SETSIGMASK = 0x08
_POSIX_SPAWN_SETSID = 0x80
_ATTR_BYTES = 1024  # posix_spawnattr_t is 336 bytes on glibc's 64-bit targets
_ACTIONS_BYTES = 256  # posix_spawn_file_actions_t is 80
_SIGSET_BYTES = 128
_RESTORED = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))


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
_attributes: dict[tuple[frozenset[int], bool], ctypes.Array[ctypes.c_char]] = {}


def available() -> bool:
    """Whether children are started by `posix_spawn` (else by Popen)."""
    return _LIBC is not None


def has_terminal() -> bool:
    """Whether this process has a controlling terminal (its children then get a session)."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def start(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[bytes, bytes] | Mapping[str, str],
    stdin: int,
    stdout: int,
    stderr: int,
) -> StepProcess:
    """Start `argv` as the leader of a new process group (and session, with a terminal) with
    these descriptors as 0, 1 and 2 (see the module docstring). Raises OSError when it cannot
    start, ValueError for an impossible argument."""
    libc = _LIBC
    session = has_terminal()
    if libc is None or not argv or min(stdin, stdout, stderr) < 3:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=session,
            process_group=None if session else 0,
        )
    return SpawnedChild(_Request(libc, argv, cwd, env, (stdin, stdout, stderr), session).run())


class _Request:
    """One child to start: the arguments checked, the caller's signal mask read."""

    def __init__(
        self,
        libc: _Libc,
        argv: Sequence[str],
        cwd: str,
        env: Mapping[bytes, bytes] | Mapping[str, str],
        fds: tuple[int, int, int],
        session: bool,
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
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        self.attributes = _attributes_for(libc, mask, session)

    def run(self) -> int:
        """Start the child, trying each candidate path as Popen's child does; its pid."""
        first_error = 0
        last_error = errno.ENOENT
        for path in self.candidates:
            pid = ctypes.c_int(0)
            code = self._spawn(path, pid)
            if code == 0:
                return pid.value
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


def _candidates(executable: bytes, env: Mapping[bytes, bytes] | Mapping[str, str]) -> list[bytes]:
    """The paths Popen's child tries to exec, in order: `argv[0]` itself when it has a directory
    part, else `argv[0]` in each directory of the `PATH` in `env`."""
    if os.path.dirname(executable):
        return [executable]
    # get_exec_path reads a bytes `PATH` key too (typeshed says str only)
    directories = os.get_exec_path(env)  # type: ignore[arg-type]
    return [os.path.join(os.fsencode(d), executable) for d in directories]


def _attributes_for(
    libc: _Libc, mask: set[int | signal.Signals], session: bool
) -> ctypes.Array[ctypes.c_char]:
    """The spawn attributes for a signal mask: new process group (or session), that mask,
    Python's ignored signals back to their defaults. Kept: posix_spawn only reads them."""
    key = (frozenset(int(sig) for sig in mask), session)
    with _lock:
        known = _attributes.get(key)
        if known is not None:
            return known
        attributes = ctypes.create_string_buffer(_ATTR_BYTES)
        blocked = ctypes.create_string_buffer(_SIGSET_BYTES)
        defaults = ctypes.create_string_buffer(_SIGSET_BYTES)
        failed = libc.attr_init(attributes) or libc.sigemptyset(blocked)
        failed = failed or libc.sigemptyset(defaults)
        for sig in key[0]:
            libc.sigaddset(blocked, sig)  # glibc refuses its internal signals: never blocked
        for sig in _RESTORED:
            failed = failed or libc.sigaddset(defaults, int(sig))
        group = _POSIX_SPAWN_SETSID if session else _POSIX_SPAWN_SETPGROUP  # pgroup 0: its pid
        flags = group | _POSIX_SPAWN_SETSIGMASK | _POSIX_SPAWN_SETSIGDEF
        failed = failed or libc.set_flags(attributes, flags)
        failed = failed or libc.set_sigmask(attributes, blocked)
        failed = failed or libc.set_sigdefault(attributes, defaults)
        if failed:
            raise OSError(errno.EINVAL, "posix_spawn attributes could not be set")
        _attributes[key] = attributes
        return attributes
