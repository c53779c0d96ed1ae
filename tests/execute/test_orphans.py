"""Unsandboxed steps: processes that leave the step's group (`setsid`, double forks) end with
the step too, are reaped, and carry a marker a restarted controller can find."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from foredeck.execute.local import run_pipeline
from foredeck.execute.orphans import MARKER, Reaper, kill_marked
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.model import Pipeline, PipelineRunSpec
from tests.execute.helpers import (
    alive,
    kill_all,
    orphan,
    pipeline,
    read_pids,
    step,
    survivors,
    task,
    task_log,
)


async def run(p: Pipeline, out: Path, **kwargs: Any) -> RunResult:
    kwargs.setdefault("kill_grace", 0.3)
    return await run_pipeline(PipelineRunSpec(p, {}, name="r1"), out, **kwargs)


def escapees(pids: Path) -> str:
    """Shell that leaves a `setsid` child and a double-forked one in a session of its own,
    both recorded in `pids`, before it goes on."""
    return f"""setsid sh -c 'echo $$ >> {pids}; exec sleep 300' &
setsid sh -c 'sleep 300 & echo $! >> {pids}' &
while [ "$(cat {pids} 2>/dev/null | wc -l)" -lt 2 ]; do sleep 0.01; done
echo started"""


def not_a_zombie_child(pid: int) -> bool:
    """The process is gone, not a zombie this test process still has to reap."""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE or proc.ppid() != os.getpid()
    except psutil.NoSuchProcess:
        return True


async def test_setsid_and_double_forked_children_end_with_a_successful_step(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    result = await run(pipeline(task("t", escapees(pids))), tmp_path / "out")
    assert result.status == "Succeeded"
    assert len(read_pids(pids)) == 2
    assert survivors(read_pids(pids)) == []
    assert all(not_a_zombie_child(pid) for pid in read_pids(pids))
    killed = r"\[t/foredeck\] step 'main': killed [23] processes it left"
    assert re.search(killed, task_log(tmp_path / "out", "t"))


async def test_escaped_children_end_when_the_step_times_out(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = escapees(pids) + "\nsleep 30"
    result = await run(pipeline(task("t", steps=[step(script, timeout=1.0)])), tmp_path / "out")
    assert result.tasks["t"].status == "TimedOut"
    assert survivors(read_pids(pids)) == []


async def test_escaped_children_end_when_the_run_is_cancelled(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    cancel = asyncio.Event()
    runner = asyncio.create_task(
        run(pipeline(task("t", escapees(pids) + "\nsleep 30")), tmp_path / "out", cancel=cancel)
    )
    deadline = time.monotonic() + 30
    while not pids.exists() or len(read_pids(pids)) < 2:
        assert time.monotonic() < deadline, "the step never started its children"
        await asyncio.sleep(0.02)
    cancel.set()
    result = await asyncio.wait_for(runner, 30)
    assert result.status == "Cancelled"
    assert survivors(read_pids(pids)) == []


async def test_every_unsandboxed_step_carries_the_runs_marker(tmp_path: Path) -> None:
    p = pipeline(
        task("a", steps=[step(f'echo "m=${MARKER}"', "one"), step(f'echo "m=${MARKER}"', "two")])
    )
    result = await run(p, tmp_path / "out", marker="host:1:abcd/42")
    assert result.status == "Succeeded"
    values = re.findall(r"m=(\S+)", (tmp_path / "out" / "build-log.txt").read_text())
    assert values == ["host:1:abcd/42/1", "host:1:abcd/42/2"]


async def test_orphans_that_end_during_their_step_are_reaped(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # One left the session and lives long enough for a scan to see it; one stayed in it.
    script = f"""setsid sh -c 'echo $$ >> {pids}; sleep 3' &
(sh -c 'echo $$ >> {pids}; sleep 0.2' &)
sleep 6"""
    result = await run(pipeline(task("t", script)), tmp_path / "out")
    assert result.status == "Succeeded"
    assert len(read_pids(pids)) == 2
    assert all(not_a_zombie_child(pid) for pid in read_pids(pids))


def test_kill_marked_kills_selected_markers_and_processes_in_a_directory(tmp_path: Path) -> None:
    work = tmp_path / "runs" / "7"
    work.mkdir(parents=True)
    base = {"PATH": os.environ["PATH"]}
    dead = orphan({**base, MARKER: "host:1:dead/7/1"}, tmp_path)
    other = orphan({**base, MARKER: "host:2:live/8/1"}, tmp_path)
    inside = orphan(base, work)
    try:
        killed = kill_marked(lambda m: m.startswith("host:1:dead/"), cwd_root=work)
        assert sorted(killed) == sorted([dead, inside])
        assert survivors([dead, inside]) == []
        assert alive(other)
    finally:
        kill_all([dead, other, inside])


def test_a_child_with_this_process_own_marker_is_not_a_leftover(tmp_path: Path) -> None:
    """foredeck inside a step (testing foredeck) passes the step's marker on to every child;
    those are not leftovers of its own steps."""
    inherited = "host:1:outer/9/1"
    reaper = Reaper(own_marker=inherited)
    assert reaper.enable() is None
    child = subprocess.Popen(["sleep", "30"], env={**os.environ, MARKER: inherited})
    stray = orphan({"PATH": os.environ["PATH"], MARKER: "host:1:dead/9/2"}, tmp_path)
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(stray).ppid() != os.getpid():  # re-parented to us (subreaper)
            assert time.monotonic() < deadline, "the orphan never came to this process"
            time.sleep(0.01)
        reaper.scan()
        assert alive(child.pid)
        assert survivors([stray]) == []  # an orphan of a step that does not run here
    finally:
        child.kill()
        child.wait()
        kill_all([stray])


def test_podmans_container_monitor_is_reaped_when_it_ends(tmp_path: Path) -> None:
    """conmon leaves podman's session and outlives the client: an orphan nobody waits for."""
    conmon = tmp_path / "conmon"
    conmon.write_bytes(Path("/bin/sleep").read_bytes())
    conmon.chmod(0o755)
    other = tmp_path / "other"
    other.write_bytes(conmon.read_bytes())
    other.chmod(0o755)
    reaper = Reaper()
    assert reaper.enable() is None
    pids = tmp_path / "pids"
    subprocess.run(
        ["sh", "-c", f"({conmon} 0.1 & echo $! >> {pids}); ({other} 0.1 & echo $! >> {pids})"],
        check=True,
    )
    monitor, stranger = read_pids(pids)
    deadline = time.monotonic() + 10
    for pid in (monitor, stranger):  # re-parented to us (subreaper), then ended
        while not (psutil.Process(pid).ppid() == os.getpid() and not alive(pid)):
            assert time.monotonic() < deadline, "the orphan never ended as our child"
            time.sleep(0.01)
    reaper.scan()
    assert not psutil.pid_exists(monitor)
    assert psutil.Process(stranger).status() == psutil.STATUS_ZOMBIE  # not ours to reap
    os.waitpid(stranger, 0)
