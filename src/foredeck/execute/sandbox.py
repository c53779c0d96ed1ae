"""Confining host steps: what a job's processes may see, write and signal.

A CI service runs strangers' code. On the host runtime every step runs inside bubblewrap
(`bwrap`, Debian's `bubblewrap` package), the sandbox Flatpak uses:

- the host's file system read-only, with foredeck's own state (settings, database, every run's
  workdir, mirrors, artifacts, credentials: `hidden`) replaced by empty directories, or by a
  `/dev/null` that cannot be opened (bwrap mounts it `nodev`), and `/tmp` private (the
  directory the steps of one attempt share, or a fresh tmpfs);
- writable: only the paths the run hands it (its workspaces, this task's `$ARTIFACTS`, its
  results, its private temp and home directories, the job's checkout);
- its own PID, IPC and UTS namespaces (the step cannot see or signal other processes, and
  `/proc` shows only its own), no capabilities, `no_new_privs` (no setuid binary gives them
  back);
- when foredeck runs as root, the step runs as an unprivileged user (`run_as`, switched by
  `setpriv` once bwrap has built the mounts), so that file permissions protect what a mask
  might miss: root-only files, the checkout's object files hard-linked with the mirror.

The step's processes live in a PID namespace whose init is bwrap, which dies with its parent: a
double-forked or `setsid` child ends with the step, and with foredeck. The network is shared
unless `network=False`. docs/security.md says what this does not cover.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

TMP_SIZE = 1024 * 1024 * 1024
"""Bytes of the private `/tmp` tmpfs (memory): `$TMPDIR` on disk is where big files belong."""

PRIVATE_TMP = "/tmp"  # noqa: S108  (a fresh tmpfs inside the sandbox, not the host's)

# What root keeps inside bwrap until setpriv has switched to `run_as` (which drops them all).
_SWITCH_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")


class SandboxError(RuntimeError):
    """The configured sandbox cannot run steps on this machine."""


@dataclass(frozen=True)
class RunAs:
    """The unprivileged identity steps run as when foredeck itself is root."""

    uid: int
    gid: int

    @classmethod
    def parse(cls, spec: str) -> RunAs:
        """`nobody`, `1000` or `1000:1000`; a name takes its primary group."""
        user, _, group = spec.partition(":")
        try:
            if user.isdigit():
                uid, gid = int(user), int(user)
            else:
                entry = pwd.getpwnam(user)
                uid, gid = entry.pw_uid, entry.pw_gid
            if group:
                gid = int(group)
        except (KeyError, ValueError):
            raise SandboxError(f"unknown user {spec!r} for sandboxed steps") from None
        if uid == 0:
            raise SandboxError("sandboxed steps cannot run as root (uid 0)")
        return cls(uid, gid)


@dataclass(frozen=True)
class Sandbox:
    """How a run's steps are confined; `wrap()` turns a step's argv into the sandboxed one."""

    bwrap: str | None
    """The bwrap binary; None runs steps unconfined (the environment allow-list still holds)."""
    hidden: tuple[str, ...] = ()
    """Absolute paths the steps must not see (masked; missing ones are ignored)."""
    shared: tuple[str, ...] = ()
    """Host directories every step of every job may write (caches), bound before the masks."""
    writable: tuple[str, ...] = ()
    """Paths of the run writable by every step besides the executor's own (the checkout)."""
    network: bool = True
    run_as: RunAs | None = None
    """Set only with bwrap, when this process is root."""
    setpriv: str = "setpriv"
    tmp_size: int = TMP_SIZE

    def with_writable(self, paths: Iterable[str | Path]) -> Sandbox:
        return replace(self, writable=(*self.writable, *(os.path.abspath(p) for p in paths)))

    def describe(self) -> str:
        """One line for the run's log: how its steps are confined."""
        who = f"uid {self.run_as.uid}" if self.run_as else f"uid {os.getuid()}"
        if self.bwrap is None:
            return f"steps run unsandboxed as {who} (allow-listed environment only)"
        net = "shared network" if self.network else "no network"
        return f"steps run in bubblewrap as {who}: read-only host, {net}"

    def hand_over(self, *paths: str | Path, tree: bool = False) -> None:
        """Make `paths` writable by `run_as` (a no-op without one).

        With `tree`, everything below too, except files with several hard links: a checkout's
        object files are shared with the mirror, and a step that owned them could rewrite the
        mirror through them. Git only ever adds objects, so it never needs to own those.
        """
        if self.run_as is None:
            return
        uid, gid = self.run_as.uid, self.run_as.gid
        for path in paths:
            os.lchown(path, uid, gid)
            if not tree:
                continue
            for root, dirs, files in os.walk(path):
                for name in dirs:
                    os.lchown(os.path.join(root, name), uid, gid)
                for name in files:
                    full = os.path.join(root, name)
                    if os.lstat(full).st_nlink == 1:
                        os.lchown(full, uid, gid)

    def make_dirs(self, path: Path) -> None:
        """`path.mkdir(parents=True, exist_ok=True)`, each new directory handed over."""
        if self.run_as is None:
            path.mkdir(parents=True, exist_ok=True)
            return
        missing: list[Path] = []
        probe = path
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        path.mkdir(parents=True, exist_ok=True)
        self.hand_over(*reversed(missing))

    def wrap(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        writable: Sequence[str] = (),
        readonly: Sequence[str] = (),
        tmp: str | None = None,
    ) -> list[str]:
        """`argv` run in the sandbox, in `cwd`, with `writable` (and `self.writable`) bound
        read-write and `readonly` bound read-only inside otherwise hidden directories. `/tmp`
        is the directory `tmp` when given (shared by the steps of one attempt), else a fresh
        tmpfs."""
        if self.bwrap is None:
            return list(argv)
        args = [self.bwrap, *self._base_args(tmp)]
        replaced = {PRIVATE_TMP}
        made: set[str] = set()
        for path in self.shared:
            args += [*self._parents(path, replaced, made), "--bind", path, path]
        args += self._masks(replaced)
        binds = [(p, "--bind") for p in (*self.writable, *writable)]
        binds += [(p, "--ro-bind") for p in readonly]
        for path, _ in binds:
            args += self._parents(path, replaced, made)
        for path, kind in binds:
            args += [kind, path, path]
        args += ["--chdir", cwd, "--", *self._switch_user(), *argv]
        return args

    def _base_args(self, tmp: str | None = None) -> list[str]:
        args = [
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-drop",
            "ALL",
        ]
        if os.getuid() != 0:
            # Unprivileged: a user namespace of our own, and none nested inside it.
            args += ["--unshare-user", "--disable-userns"]
        elif self.run_as is not None:
            for cap in _SWITCH_CAPS:
                args += ["--cap-add", cap]
        if not self.network:
            args.append("--unshare-net")
        args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        if tmp is None:
            args += ["--perms", "1777", "--size", str(self.tmp_size), "--tmpfs", PRIVATE_TMP]
        else:
            args += ["--bind", tmp, PRIVATE_TMP]
        return args

    def _switch_user(self) -> list[str]:
        if self.run_as is None:
            return []
        uid, gid = self.run_as.uid, self.run_as.gid
        return [
            self.setpriv,
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]

    def _masks(self, replaced: set[str]) -> list[str]:
        """The mount arguments that hide `hidden`; adds the directories they replace."""
        args: list[str] = []
        for path in self.hidden:
            if _below(path, replaced):
                continue  # already behind the private /tmp
            try:
                mode = os.stat(path).st_mode
            except OSError:
                continue  # nothing there to hide (yet: checked again for every step)
            if stat.S_ISDIR(mode):
                args += ["--tmpfs", path]
                replaced.add(path)
            else:
                args += ["--ro-bind", "/dev/null", path]
        return args

    def _parents(self, path: str, replaced: set[str], made: set[str]) -> list[str]:
        """Make every ancestor of `path` traversable by `run_as` inside the sandbox.

        bwrap creates the missing parents of a mount point with mode 0700 (root's, here), so
        those get made first with 0755; a host directory `run_as` may not traverse (a 0700
        home) gets an empty tmpfs over it: what else it holds stays out of reach, as it was
        for that user anyway.
        """
        if self.run_as is None:
            return []
        args: list[str] = []
        parts = Path(path).parts
        for depth in range(2, len(parts)):
            ancestor = os.path.join(*parts[:depth])
            if ancestor in made or ancestor in replaced:
                continue
            if _below(ancestor, replaced):
                args += ["--perms", "0755", "--dir", ancestor]
                made.add(ancestor)
            elif not _traversable(ancestor, self.run_as):
                args += ["--tmpfs", ancestor]
                replaced.add(ancestor)
        return args


def _below(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root + "/") for root in roots)


def _traversable(path: str, who: RunAs) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return True  # bwrap creates it inside the sandbox
    if st.st_uid == who.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == who.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


@functools.cache
def _probe(sandbox: Sandbox) -> str | None:
    """Why the sandbox cannot run here (None when it can): a kernel or container that forbids
    the namespaces would otherwise fail every step."""
    argv = sandbox.wrap(["true"], cwd="/")
    try:
        done = subprocess.run(
            argv, capture_output=True, timeout=30, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
    return None


def make_sandbox(
    mode: str,
    *,
    hidden: Iterable[str | Path] = (),
    shared: Iterable[str | Path] = (),
    network: bool = True,
    run_as: str | None = None,
) -> tuple[Sandbox, str | None]:
    """The sandbox for `mode` (`bwrap`: required; `auto`: bwrap when it works here; `none`),
    and a warning when `auto` had to fall back. Raises SandboxError when `bwrap` cannot run.

    `run_as` applies only when this process is root: a non-root process cannot switch user,
    and its user namespace already keeps the step from the host's root.
    """
    # Real paths: bwrap mounts over what a symlink points to (`/var/run` is `/run`).
    masked = tuple(dict.fromkeys(os.path.realpath(os.path.expanduser(p)) for p in hidden))
    if mode == "none":
        return Sandbox(None, masked, network=network), None
    who = RunAs.parse(run_as) if run_as and os.getuid() == 0 else None
    binds = tuple(os.path.realpath(os.path.expanduser(p)) for p in shared)
    for path in binds:
        if not os.path.isdir(path):
            raise SandboxError(f"sandbox.bind: {path} is not a directory")
    binary = shutil.which("bwrap")
    setpriv = shutil.which("setpriv") or "setpriv"
    problem = "bwrap is not installed (Debian: apt-get install bubblewrap)"
    if binary is not None:
        sandbox = Sandbox(binary, masked, binds, network=network, run_as=who, setpriv=setpriv)
        problem = _probe(replace(sandbox, hidden=(), shared=())) or ""
        if not problem:
            return sandbox, None
    if mode == "bwrap":
        raise SandboxError(f"sandbox.mode is bwrap but bwrap cannot run here: {problem}")
    return Sandbox(None, masked, network=network), f"steps are NOT sandboxed: {problem}"
