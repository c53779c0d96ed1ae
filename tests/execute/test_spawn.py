"""Starting a step's process: `posix_spawn` gives the child `Popen` would give."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import signal
import subprocess
import sys
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
    "session": os.getsid(0),
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
        child = spawn.start(argv, cwd=cwd, env=env, stdin=devnull, stdout=write_fd, stderr=write_fd)
    finally:
        os.close(write_fd)
        os.close(devnull)
    with os.fdopen(read_fd, "rb") as reader:
        output = await asyncio.get_running_loop().run_in_executor(None, reader.read)
    return await asyncio.to_thread(child.wait), output


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "no-terminal"])
async def test_the_child_is_the_one_popen_starts(
    mode: str, terminal: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process group (and a new session when foredeck has a terminal), working
    directory, exactly the given environment, /dev/null as stdin, no other descriptor (an
    inheritable one is left open here), the caller's signal mask, SIGPIPE and SIGXFSZ back to
    their defaults: the same report through either path."""
    monkeypatch.setattr(spawn, "has_terminal", lambda: terminal)
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
    assert report["group_leader"]
    assert report["session_leader"] is terminal  # else foredeck's session (no new autogroup)
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


def test_a_terminal_is_what_the_process_can_open_as_dev_tty() -> None:
    """Under a pseudo-terminal (its controlling terminal) yes; in a session without one, no."""
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child reports on its terminal
        os.write(1, b"terminal: %r\n" % spawn.has_terminal())
        os._exit(0)
    with os.fdopen(master, "rb") as terminal:
        assert terminal.readline().strip() == b"terminal: True"
    os.waitpid(pid, 0)
    alone = subprocess.run(
        [sys.executable, "-c", "from foredeck.execute import spawn; print(spawn.has_terminal())"],
        start_new_session=True,
        capture_output=True,
        text=True,
        check=True,
    )
    assert alone.stdout.strip() == "False"
