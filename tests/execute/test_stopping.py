"""Timeouts and cancellation: what gets stopped, what status it gets, and that nothing survives."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.model import Pipeline, PipelineRunSpec
from tests.execute.helpers import (
    pipeline,
    processes_in,
    read_pids,
    step,
    survivors,
    task,
    task_log,
)


async def run(p: Pipeline, out: Path, **kwargs: Any) -> RunResult:
    kwargs.setdefault("kill_grace", 0.3)
    return await run_pipeline(PipelineRunSpec(p, {}, name="r1"), out, **kwargs)


def spawner(pids: Path, started: Path | None = None) -> str:
    """A script leaving a background child, a TERM-ignoring grandchild and itself in `pids`."""
    touch = f"touch {started}" if started is not None else "true"
    return f"""echo $$ >> {pids}
sleep 30 &
echo $! >> {pids}
sh -c 'trap "" TERM; echo $$ >> {pids}; sleep 30 & echo $! >> {pids}; wait' &
while [ $(wc -l < {pids}) -lt 4 ]; do sleep 0.01; done
{touch}
wait"""


async def test_step_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    p = pipeline(task("t", steps=[step(spawner(pids), timeout=0.5), step("echo never", "next")]))
    started = time.monotonic()
    result = await run(p, tmp_path / "out")
    assert time.monotonic() - started < 5
    record = result.tasks["t"]
    assert record.status == "TimedOut"
    assert "step timeout" in record.reason
    assert result.status == "Failed"  # a task's own timeout fails the run; it is not a run timeout
    assert len(read_pids(pids)) == 4
    assert survivors(read_pids(pids)) == []  # including the grandchild that ignored SIGTERM
    assert "never" not in task_log(tmp_path / "out", "t")


async def test_background_processes_die_with_their_step(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"sleep 30 & echo $! >> {pids}; sh -c 'sleep 30' & echo $! >> {pids}; echo done"
    result = await run(pipeline(task("t", script)), tmp_path / "out")
    assert result.tasks["t"].status == "Succeeded"
    assert survivors(read_pids(pids)) == []


async def test_task_timeout_applies_per_attempt_and_is_retried(tmp_path: Path) -> None:
    p = pipeline(
        task(
            "t", steps=[step("echo quick", "one"), step("sleep 30", "two")], timeout=0.4, retries=1
        )
    )
    started = time.monotonic()
    result = await run(p, tmp_path / "out")
    elapsed = time.monotonic() - started
    record = result.tasks["t"]
    assert (record.status, record.attempts) == ("TimedOut", 2)
    assert "task timeout expired during step 'two'" in record.reason
    assert 0.8 <= elapsed < 5


async def test_pipeline_timeout_stops_everything_and_skips_the_rest(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    p = pipeline(
        task("long", spawner(pids)),
        task("next", "echo never", run_after=["long"]),
        finally_tasks=[task("teardown", "echo teardown")],
        timeout=0.6,
    )
    started = time.monotonic()
    result = await run(p, tmp_path / "out")
    assert time.monotonic() - started < 5
    assert result.status == "TimedOut"
    assert result.tasks["long"].status == "TimedOut"
    assert result.tasks["next"].status == "Skipped"
    # `timeout` bounds the whole run: no time is left for finally (use tasks_timeout for that)
    assert result.tasks["teardown"].status == "Skipped"
    assert survivors(read_pids(pids)) == []
    finished = json.loads((tmp_path / "out" / "finished.json").read_text())
    assert finished["result"] == "FAILURE"
    assert json.loads((tmp_path / "out" / "pipeline-run.json").read_text())["status"] == "TimedOut"


async def test_tasks_timeout_leaves_time_for_finally(tmp_path: Path) -> None:
    marker = tmp_path / "tore-down"
    p = pipeline(
        task("long", "sleep 30"),
        finally_tasks=[task("teardown", f"echo $(tasks.long.status) > {marker}")],
        tasks_timeout=0.4,
        finally_timeout=5,
    )
    result = await run(p, tmp_path / "out")
    assert result.status == "TimedOut"
    assert result.tasks["long"].status == "TimedOut"
    assert result.tasks["teardown"].status == "Succeeded"
    assert marker.read_text().strip() == "Failed"


async def test_finally_timeout(tmp_path: Path) -> None:
    p = pipeline(task("ok", "true"), finally_tasks=[task("hang", "sleep 30")], finally_timeout=0.4)
    result = await run(p, tmp_path / "out")
    assert result.tasks["hang"].status == "TimedOut"
    assert result.status == "TimedOut"


async def test_cancel_event_stops_tasks_then_runs_finally(tmp_path: Path) -> None:
    pids, started, marker = tmp_path / "pids", tmp_path / "started", tmp_path / "finally"
    p = pipeline(
        task("long", spawner(pids, started)),
        task("queued", "echo never"),
        task("after", "echo never", run_after=["long"]),
        finally_tasks=[task("cleanup", f"echo $(tasks.status) > {marker}")],
    )
    cancel = asyncio.Event()
    runner = asyncio.create_task(run(p, tmp_path / "out", cancel=cancel, parallel=1))
    while not started.exists():
        await asyncio.sleep(0.02)
    cancel.set()
    result = await asyncio.wait_for(runner, 10)
    assert result.status == "Cancelled"
    assert result.tasks["long"].status == "Cancelled"
    assert result.tasks["queued"].status == "Cancelled"
    assert result.tasks["queued"].reason == "not started: run cancelled"
    assert result.tasks["after"].status in ("Cancelled", "Skipped")
    assert result.tasks["cleanup"].status == "Succeeded"
    assert marker.read_text().strip() == "Failed"
    assert survivors(read_pids(pids)) == []
    assert processes_in(tmp_path) == []
    finished = json.loads((tmp_path / "out" / "finished.json").read_text())
    assert (finished["passed"], finished["result"]) == (False, "ABORTED")


async def test_cancel_before_start_runs_no_task_but_finally(tmp_path: Path) -> None:
    cancel = asyncio.Event()
    cancel.set()
    p = pipeline(task("t", "echo never"), finally_tasks=[task("f", "echo teardown")])
    result = await run(p, tmp_path / "out", cancel=cancel)
    assert result.tasks["t"].status == "Cancelled"
    assert result.tasks["f"].status == "Succeeded"
    assert not (tmp_path / "out" / "tasks" / "t").exists()


async def test_cancelling_the_coroutine_still_runs_finally_and_writes_files(
    tmp_path: Path,
) -> None:
    pids, started, marker = tmp_path / "pids", tmp_path / "started", tmp_path / "finally"
    p = pipeline(
        task("long", spawner(pids, started)),
        finally_tasks=[task("cleanup", f"echo ran > {marker}")],
    )
    runner = asyncio.create_task(run(p, tmp_path / "out"))
    while not started.exists():
        await asyncio.sleep(0.02)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert marker.read_text().strip() == "ran"
    assert survivors(read_pids(pids)) == []
    finished = json.loads((tmp_path / "out" / "finished.json").read_text())
    assert finished["result"] == "ABORTED"
    data = json.loads((tmp_path / "out" / "pipeline-run.json").read_text())
    assert data["status"] == "Cancelled"
    assert data["tasks"]["long"]["status"] == "Cancelled"


async def test_cancelling_twice_stops_finally_too(tmp_path: Path) -> None:
    pids, started = tmp_path / "pids", tmp_path / "started"
    p = pipeline(task("t", "sleep 30"), finally_tasks=[task("f", spawner(pids, started))])
    runner = asyncio.create_task(run(p, tmp_path / "out"))
    await asyncio.sleep(0.2)
    runner.cancel()
    while not started.exists():  # the finally task is running now
        await asyncio.sleep(0.02)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(runner, 10)
    assert survivors(read_pids(pids)) == []
    data = json.loads((tmp_path / "out" / "pipeline-run.json").read_text())
    assert data["tasks"]["f"]["status"] == "Cancelled"
    assert json.loads((tmp_path / "out" / "finished.json").read_text())["result"] == "ABORTED"
