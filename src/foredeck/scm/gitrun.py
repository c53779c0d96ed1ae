"""Running git: the one environment, the one ref-name rule and the one runner foredeck uses.

Both the checkout (`scm.git`, asynchronous, recording every command) and the local provider's
repository queries (`scm.local.repos`, synchronous, in worker threads) run git through here, so
that they cannot disagree about what a valid ref is or about what git may read from the
environment:

- argv lists only (no shell), each git in a session of its own so that a timeout kills the
  helpers it forked (remote-https, upload-pack), not just git itself;
- no inherited `GIT_*` variable (a `GIT_DIR` or `GIT_CONFIG_PARAMETERS` of the calling process
  would redirect or reconfigure every command), no user or system config, no prompts, C locale;
- ref names as git's `check-ref-format --allow-onelevel` accepts them (what Prow relies on),
  and never starting with `-`, which git would read as an option.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_REF_NAME = 1024
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SHORT_SHA = re.compile(r"[0-9a-f]{7,64}")


def valid_ref_name(name: str) -> bool:
    """git's `check-ref-format --allow-onelevel` rules, and no leading `-`.

    No control characters, space, `~ ^ : ? * [ \\`, `..`, `@{` or `//`; not `@`; no leading or
    trailing `/`, no trailing `.`; no component that starts with `.` or ends with `.lock`.
    """
    if (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_REF_NAME
        or name == "@"
        or name.startswith(("-", "/"))
        or name.endswith(("/", "."))
        or _REF_FORBIDDEN.search(name)
    ):
        return False
    return not any(part.startswith(".") or part.endswith(".lock") for part in name.split("/"))


def valid_sha(value: str, *, abbreviated: bool = False) -> bool:
    """A full commit sha (SHA-1 or SHA-256, lower-case hex); `abbreviated`: 7 digits or more."""
    pattern = _SHORT_SHA if abbreviated else _FULL_SHA
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def git_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Reproducible, non-interactive git: no prompts, no user or system config, C locale.

    Pass what a command needs (an identity, dates) in `overrides`.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            # An automatic gc runs in the command, not detached: a detached one is an orphan
            # that nothing of ours waits for (a zombie under the executor's subreaper).
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "gc.autoDetach",
            "GIT_CONFIG_VALUE_0": "false",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
            "LC_ALL": "C",
        }
    )
    if overrides:
        env.update(overrides)
    return env


@dataclass(frozen=True, slots=True)
class GitResult:
    rc: int
    """-1 when the command timed out (and was killed)."""
    stdout: bytes
    """With `merge_stderr`, the two streams interleaved as git wrote them."""
    stderr: bytes
    timed_out: bool = False


def _spawn_options(
    env: Mapping[str, str], cwd: Path | None, stdin: bytes | None, merge_stderr: bool
) -> dict[str, Any]:
    """What both runners pass to the process: its own session, so that a timeout can kill the
    helpers git forked (remote-https, upload-pack), not just git."""
    return {
        "cwd": cwd,
        "env": dict(env),
        "stdin": subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        "start_new_session": True,
    }


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_git(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    merge_stderr: bool = False,
) -> GitResult:
    """Run `git ARGS` and wait (for threads: the local provider and its watcher)."""
    proc = subprocess.Popen(["git", *args], **_spawn_options(env, cwd, stdin, merge_stderr))
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        return GitResult(-1, b"", b"", timed_out=True)
    except BaseException:
        _kill_group(proc.pid)
        proc.wait()
        raise
    return GitResult(proc.returncode, out, err or b"")


async def run_git_async(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    merge_stderr: bool = False,
) -> GitResult:
    """`run_git` on the event loop (the checkout): cancelling it kills git's process group."""
    options = _spawn_options(env, cwd, stdin, merge_stderr)
    proc = await asyncio.create_subprocess_exec("git", *args, **options)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        return GitResult(-1, b"", b"", timed_out=True)
    except BaseException:
        _kill_group(proc.pid)
        raise
    return GitResult(proc.returncode if proc.returncode is not None else -1, out, err or b"")
