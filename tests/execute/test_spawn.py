"""Starting a step's process: `posix_spawn` in a thread gives the child `Popen` would give."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from foredeck.execute import spawn

FAST = pytest.param(
    "fast",
    marks=pytest.mark.skipif(not spawn.available(), reason="needs glibc 2.34+ on Linux"),
)

REPORT = """
import json, os, sys
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "session_leader": os.getsid(0) == os.getpid(),
    "group_leader": os.getpgid(0) == os.getpid(),
    "cwd": os.getcwd(),
    "env": {k: v for k, v in os.environ.items() if k.startswith("SPAWN_") or k == "PATH"},
    "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
    "stdin": os.readlink("/proc/self/fd/0"),
    "argv": sys.argv[1:],
}))
"""


@pytest.fixture(params=[FAST, "popen"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "popen":
        monkeypatch.setattr(spawn, "_LIBC", None)
    yield request.param


async def run(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[int, bytes]:
    """Start `argv` as a step is started; its exit code and stdout (stderr is inherited)."""
    read_fd, write_fd = os.pipe()
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        child = await spawn.start(
            argv, cwd=cwd, env=env, stdin=devnull, stdout=write_fd, stderr=write_fd
        )
    finally:
        os.close(write_fd)
        os.close(devnull)
    with os.fdopen(read_fd, "rb") as reader:
        output = await asyncio.get_running_loop().run_in_executor(None, reader.read)
    return await asyncio.to_thread(child.wait), output


async def test_the_child_is_the_one_popen_starts(mode: str, tmp_path: Path) -> None:
    """New session, working directory, exactly the given environment, /dev/null as stdin,
    no other descriptor (an inheritable one is left open here), the caller's signal mask,
    SIGPIPE and SIGXFSZ back to their defaults: the same report through either path."""
    leak_read, leak_write = os.pipe()
    os.set_inheritable(leak_read, True)
    env = {"PATH": os.environ["PATH"], "SPAWN_X": "a b"}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
    try:
        code, output = await run([sys.executable, "-c", REPORT, "x", ""], str(tmp_path), env)
        signals = await run(["/bin/cat", "/proc/self/status"], "/", {})
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        os.close(leak_read)
        os.close(leak_write)
    assert code == 0
    report = json.loads(output)
    assert report["session_leader"] and report["group_leader"]
    assert report["cwd"] == str(tmp_path)
    assert report["env"] == env
    assert report["fds"] == [0, 1, 2, 3]  # 3: the one listing /proc/self/fd
    assert report["stdin"] == "/dev/null"
    assert report["argv"] == ["x", ""]
    status = dict(line.split(":\t", 1) for line in signals[1].decode().splitlines())
    glibc_internal = 1 << 31 | 1 << 32  # 32 and 33: glibc's posix_spawn leaves them ignored
    assert int(status["SigIgn"], 16) & ~glibc_internal == 0  # SIGPIPE and SIGXFSZ too
    assert int(status["SigBlk"], 16) == 1 << (signal.SIGUSR2 - 1)


async def test_a_bare_name_is_looked_up_in_the_childs_path(mode: str, tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tmp_path / "empty").mkdir()
    program = tools / "only-here"
    program.write_text("#!/bin/sh\necho found $1\n")
    program.chmod(0o755)
    path = f"{tmp_path / 'missing'}:{tmp_path / 'empty'}:{tools}:/usr/bin:/bin"
    code, output = await run(["only-here", "it"], str(tmp_path), {"PATH": path})
    assert (code, output) == (0, b"found it\n")


async def test_exit_status_and_signal(mode: str, tmp_path: Path) -> None:
    assert (await run(["/bin/sh", "-c", "exit 3"], "/", {}))[0] == 3
    assert (await run(["/bin/sh", "-c", "kill -TERM $$"], "/", {}))[0] == -signal.SIGTERM


async def test_what_cannot_start_is_the_error_popen_raises(mode: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await run(["/nonexistent/program"], "/", {})
    with pytest.raises(FileNotFoundError):
        await run(["no-such-program-here"], "/", {"PATH": str(tmp_path)})
    blocked = tmp_path / "first"
    blocked.mkdir()
    (blocked / "tool").write_text("echo never\n")  # not executable: the error to report
    with pytest.raises(PermissionError):
        await run(["tool"], "/", {"PATH": f"{blocked}:{tmp_path / 'none'}"})
    with pytest.raises(FileNotFoundError):
        await run(["/bin/true"], str(tmp_path / "gone"), {})
    with pytest.raises(ValueError, match="embedded null byte"):
        await run(["/bin/echo", "a\0b"], "/", {})
    with pytest.raises(ValueError, match="illegal environment variable name"):
        await run(["/bin/true"], "/", {"A=B": "c"})


@pytest.mark.skipif(not spawn.available(), reason="needs glibc 2.34+ on Linux")
async def test_a_caller_cancelled_while_the_child_starts_leaves_no_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled while the worker is starting the child: once the cancel is through, the
    child is killed and reaped (and the caller's descriptors were not closed under it)."""
    entered = threading.Event()
    release = threading.Event()
    started: list[int] = []
    real_spawn = spawn._Request._spawn

    def slow_spawn(self: spawn._Request, path: bytes, pid: ctypes.c_int) -> int:
        entered.set()
        release.wait(10)
        code = real_spawn(self, path, pid)
        started.append(pid.value)
        return code

    monkeypatch.setattr(spawn._Request, "_spawn", slow_spawn)
    waiter = asyncio.create_task(run(["/bin/sleep", "30"], "/", {}))
    while not entered.is_set():
        await asyncio.sleep(0.01)
    threading.Timer(0.2, release.set).start()  # while the loop waits in the cancel
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert len(started) == 1 and started[0] > 0
    assert not Path(f"/proc/{started[0]}").exists()  # killed and reaped, not even a zombie


@pytest.mark.skipif(not spawn.available(), reason="needs glibc 2.34+ on Linux")
async def test_a_caller_cancelled_before_the_worker_starts_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bytes] = []
    monkeypatch.setattr(spawn._Request, "_spawn", lambda self, path, pid: calls.append(path))
    request = spawn._Request(spawn._LIBC, ["/bin/true"], "/", {}, (0, 1, 2))  # type: ignore[arg-type]
    request.abandon()
    with pytest.raises(OSError, match="cancel"):
        request.run()
    assert calls == []


@pytest.mark.skipif(not spawn.available(), reason="needs glibc 2.34+ on Linux")
async def test_a_forked_process_starts_children_with_workers_of_its_own() -> None:
    """The parent's worker threads do not exist in a fork: the child must not wait for them."""
    assert (await run(["/bin/true"], "/", {}))[0] == 0  # the parent's workers exist now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            code = asyncio.run(asyncio.wait_for(run(["/bin/sh", "-c", "exit 5"], "/", {}), 10))[0]
        finally:
            os._exit(code)
    _, status = await asyncio.to_thread(os.waitpid, pid, 0)
    assert os.waitstatus_to_exitcode(status) == 5
