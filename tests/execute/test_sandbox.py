"""The host runtime's sandbox (bubblewrap): what a step can reach, and that nothing outlives it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.execute.sandbox import RunAs, Sandbox, SandboxError, make_sandbox
from foredeck.pipeline.model import Pipeline, PipelineRunSpec
from tests.execute.helpers import lingering, pipeline, require_bwrap, step, task

ROOT = os.getuid() == 0


@pytest.fixture
def bwrap() -> str:
    return require_bwrap()


def sandbox(**kwargs: Any) -> Sandbox:
    made, warning = make_sandbox("bwrap", run_as="nobody", **kwargs)
    assert warning is None
    return made


async def run(p: Pipeline, out: Path, **kwargs: Any) -> RunResult:
    kwargs.setdefault("kill_grace", 0.3)
    kwargs.setdefault("env", {"PATH": os.environ["PATH"]})
    return await run_pipeline(PipelineRunSpec(p, {}, name="r1"), out, **kwargs)


def log_of(out: Path) -> str:
    return (out / "build-log.txt").read_text()


async def test_a_step_writes_its_own_directories_and_nothing_else(
    bwrap: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    script = f"""
echo a > $ARTIFACTS/a.txt
echo w > w.txt
echo t > $TMPDIR/t.txt && echo t > /tmp/t.txt
echo h > $HOME/h.txt
if touch {outside}/x 2>/dev/null; then echo ESCAPED-outside; fi
if touch $HOME/../escaped 2>/dev/null; then echo ESCAPED-work; fi
if touch /var/tmp/foredeck-escaped-{os.getpid()} 2>/dev/null; then echo ESCAPED-var-tmp; fi
echo done
"""
    p = pipeline(task("t", steps=[step(script)]))
    result = await run(p, tmp_path / "out", sandbox=sandbox())
    assert result.status == "Succeeded", log_of(tmp_path / "out")
    log = log_of(tmp_path / "out")
    assert "done" in log and "ESCAPED" not in log
    assert (tmp_path / "out" / "artifacts" / "t" / "a.txt").read_text() == "a\n"
    assert (tmp_path / "out" / ".work" / "workspaces" / "w.txt").is_file()
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "out" / ".work" / "escaped").exists()


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A directory outside /tmp (which steps see as a private tmpfs): where masks matter."""
    path = Path(tempfile.mkdtemp(prefix="foredeck-sandbox-", dir="/var/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def test_hidden_paths_read_as_empty_and_the_private_tmp_hides_the_hosts(
    bwrap: str, tmp_path: Path, outside_tmp: Path
) -> None:
    state = outside_tmp / "state"
    state.mkdir()
    (state / "db").write_text("rows")
    settings = outside_tmp / "settings.yaml"
    settings.write_text("token: t0p")
    script = f"""
ls {state} | wc -l
cat {settings} 2>/dev/null || echo unreadable
test -e {tmp_path} && echo host-tmp-visible || echo host-tmp-hidden
"""
    p = pipeline(task("t", steps=[step(script)]))
    out = outside_tmp / "out"
    made = sandbox(hidden=[state, settings, outside_tmp / "missing"])
    result = await run(p, out, sandbox=made)
    log = log_of(out)
    assert result.status == "Succeeded", log
    lines = [line.split("] ", 1)[1] for line in log.splitlines() if "[t/main]" in line]
    # The folder is an empty tmpfs, the file a /dev/null that cannot be opened (bubblewrap
    # mounts it `nodev`), and the test's /tmp folder is gone.
    assert lines == ["0", "unreadable", "host-tmp-hidden"]


async def test_a_setsid_daemon_ends_with_its_step(bwrap: str, tmp_path: Path) -> None:
    script = "setsid sh -c 'sleep 30' & (sleep 31 &) ; echo started"
    p = pipeline(task("t", steps=[step(script)]))
    result = await run(p, tmp_path / "out", sandbox=sandbox())
    assert result.status == "Succeeded"
    assert lingering(tmp_path / "out") == []


async def test_cancel_kills_everything_in_the_sandbox(bwrap: str, tmp_path: Path) -> None:
    script = "trap '' TERM; setsid sleep 30 & sleep 30 & echo started; wait"
    p = pipeline(task("t", steps=[step(script)]))
    cancel = asyncio.Event()
    out = tmp_path / "out"
    runner = asyncio.create_task(run(p, out, sandbox=sandbox(), cancel=cancel))
    deadline = time.monotonic() + 15
    while "started" not in (log_of(out) if (out / "build-log.txt").exists() else ""):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    cancel.set()
    result = await asyncio.wait_for(runner, 15)
    assert result.status == "Cancelled"
    assert lingering(out) == []


async def test_without_network_a_step_cannot_reach_local_services(
    bwrap: str, tmp_path: Path
) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    # Debian's python3: the test's own may live under a home `nobody` cannot enter.
    connect = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\""
    script = f"if {connect} 2>/dev/null; then echo reached; else echo unreachable; fi"
    p = pipeline(task("t", steps=[step(script)]))
    try:
        shared = await run(p, tmp_path / "shared", sandbox=sandbox())
        closed = await run(p, tmp_path / "closed", sandbox=sandbox(network=False))
    finally:
        server.close()
    assert shared.status == closed.status == "Succeeded"
    assert "reached" in log_of(tmp_path / "shared")
    assert "unreachable" in log_of(tmp_path / "closed")


@pytest.mark.skipif(not ROOT, reason="checks the switch to an unprivileged user, done as root")
async def test_as_root_steps_run_as_nobody_and_cannot_read_root_only_files(
    bwrap: str, tmp_path: Path
) -> None:
    secret = Path("/var/tmp") / f"foredeck-root-only-{os.getpid()}"
    secret.write_text("root only")
    secret.chmod(0o600)
    script = f"id -u; cat {secret} 2>/dev/null || echo unreadable; grep Cap[EP] /proc/self/status"
    p = pipeline(task("t", steps=[step(script)]))
    try:
        result = await run(p, tmp_path / "out", sandbox=sandbox())
    finally:
        secret.unlink()
    assert result.status == "Succeeded"
    log = log_of(tmp_path / "out")
    assert f"] {RunAs.parse('nobody').uid}\n" in log
    assert "unreadable" in log and "root only" not in log
    assert "CapPrm:\t0000000000000000" in log and "CapEff:\t0000000000000000" in log


@pytest.mark.skipif(not ROOT, reason="needs root to start the run as another user")
def test_an_unprivileged_service_sandboxes_its_steps_in_a_user_namespace(
    bwrap: str, tmp_path: Path
) -> None:
    """foredeck running as a plain user: bwrap makes a user namespace, nobody switches."""
    base = Path("/var/tmp") / f"foredeck-unprivileged-{os.getpid()}"
    base.mkdir()
    base.chmod(0o777)
    program = f"""
import asyncio, os
from pathlib import Path
from foredeck.execute.local import run_pipeline
from foredeck.execute.sandbox import make_sandbox
from foredeck.pipeline.model import PipelineRunSpec
from tests.execute.helpers import pipeline, step, task

script = "id -u; touch {base}/escaped 2>/dev/null && echo ESCAPED || echo blocked"
p = pipeline(task("t", steps=[step(script)]))
made, warning = make_sandbox("bwrap", run_as="nobody")
assert made.run_as is None and warning is None
result = asyncio.run(run_pipeline(PipelineRunSpec(p, {{}}, name="r"), Path("{base}/out"),
                                  env={{"PATH": os.environ["PATH"]}}, sandbox=made))
print(result.status)
print(Path("{base}/out/build-log.txt").read_text())
"""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.pathsep.join(sys.path)}
    code = [Path(__file__).parents[2], Path(sys.prefix), *map(Path, sys.path)]
    try:
        with traversable_by_others(code):
            done = subprocess.run(
                ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable],
                input=program,
                capture_output=True,
                text=True,
                env=env,
                cwd=str(Path(__file__).parents[2]),
                timeout=60,
                check=False,
            )
        escaped = (base / "escaped").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Succeeded"), done.stdout
    assert "blocked" in done.stdout and "ESCAPED" not in done.stdout
    assert not escaped


@contextmanager
def traversable_by_others(paths: Iterable[Path]) -> Iterator[None]:
    """Let `nobody` reach this checkout and its interpreter for the test's length: a checkout
    made in `mktemp -d` (0700, as CI's fresh clone is) is otherwise closed to it. Each closed
    ancestor gets the traverse bit (o+x), each directory on the path also the read bit (Python
    lists it to find modules), and they are taken back after."""
    changed: dict[Path, int] = {}
    try:
        for path in paths:
            if not path.is_dir():
                continue
            for directory in [path, *path.parents]:
                now = stat.S_IMODE(directory.stat().st_mode)
                wanted = stat.S_IXOTH | (stat.S_IROTH if directory == path else 0)
                if now & wanted != wanted:
                    changed.setdefault(directory, now)
                    directory.chmod(now | wanted)
        yield
    finally:
        for directory, mode in changed.items():
            directory.chmod(mode)


def test_mode_bwrap_without_bwrap_refuses_and_auto_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxError, match="bwrap is not installed"):
        make_sandbox("bwrap")
    made, warning = make_sandbox("auto", hidden=["/etc/hostname"])
    assert made.bwrap is None
    assert warning is not None and "NOT sandboxed" in warning
    assert make_sandbox("none") == (Sandbox(None), None)


def test_a_missing_bind_directory_and_a_bad_user_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not a directory"):
        make_sandbox("auto", shared=[tmp_path / "missing"])
    with pytest.raises(SandboxError, match="unknown user"):
        RunAs.parse("no-such-user-here")
    with pytest.raises(SandboxError, match="root"):
        RunAs.parse("0")
    assert RunAs.parse("1234:5678") == RunAs(1234, 5678)


@pytest.mark.skipif(not ROOT, reason="changing owners needs root")
def test_hand_over_keeps_hard_linked_files_out_of_the_steps_reach(tmp_path: Path) -> None:
    """A checkout's object files are hard links into the mirror: handing them to the step's
    user would let a step rewrite the mirror every later job clones from."""
    mirror_object = tmp_path / "mirror-object"
    mirror_object.write_text("blob")
    tree = tmp_path / "src"
    (tree / ".git" / "objects").mkdir(parents=True)
    os.link(mirror_object, tree / ".git" / "objects" / "ab")
    (tree / "README").write_text("x")
    who = RunAs.parse("nobody")
    Sandbox("bwrap", run_as=who).hand_over(tree, tree=True)
    assert (tree / "README").stat().st_uid == who.uid
    assert (tree / ".git" / "objects").stat().st_uid == who.uid
    assert (tree / ".git" / "objects" / "ab").stat().st_uid == 0
    assert mirror_object.stat().st_uid == 0


async def test_the_steps_of_one_attempt_share_tmp_and_other_tasks_do_not(
    bwrap: str, tmp_path: Path
) -> None:
    """Argo's executor reads a main container's output file from its `/tmp`: a later step of
    the same attempt (the output collector) must see it; another task must not; nothing of it
    outlives the attempt."""
    write = step("echo mine > /tmp/out.txt", name="write")
    read = step("cat /tmp/out.txt", name="read")
    other = step("if test -e /tmp/out.txt; then echo LEAKED; else echo clean; fi", name="look")
    p = pipeline(task("a", steps=[write, read]), task("b", steps=[other], run_after=["a"]))
    out = tmp_path / "out"
    result = await run(p, out, sandbox=sandbox())
    log = log_of(out)
    assert result.status == "Succeeded", log
    assert "mine" in log and "clean" in log and "LEAKED" not in log
    assert not list(out.rglob("pod-*")), "an attempt's /tmp outlived it"
