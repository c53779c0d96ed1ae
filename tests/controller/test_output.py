"""A job's output on the controller's disk: each byte stored once (workspace and a `file://`
store together), and cut at `controller.max_output_bytes` with a visible marker.

`OUTPUT_TEST_BYTES=500000000 pytest -s tests/controller/test_output.py -k once` measures 500 MB.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from foredeck.controller import Controller
from foredeck.storage.tasklog import read_task_log
from tests.controller.helpers import (
    add_job,
    get_job,
    host_dir,
    make_settings,
    run_all,
    spec_config,
)
from tests.db.fixtures import Database

OUTPUT = int(os.environ.get("OUTPUT_TEST_BYTES", 50 * 1000 * 1000))
LINE = 1000
SLACK = 4 * 1024 * 1024
"""Bytes on disk besides the output: Prow's JSON files, scripts, file system blocks."""


def printer(total: int, line: int = LINE) -> str:
    """Shell printing `total` bytes in lines of `line` bytes (newline included)."""
    return f"yes \"$(printf '%0{line - 1}d' 0 | tr 0 x)\" | head -c {total}"


def stored(*roots: Path) -> tuple[int, int]:
    """(bytes of the distinct files under `roots`, bytes allocated to them): a file linked
    twice counts once."""
    seen: set[tuple[int, int]] = set()
    size = allocated = 0
    for root in roots:
        for directory, _, files in os.walk(root):
            for name in files:
                st = os.lstat(os.path.join(directory, name))
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                size += st.st_size
                allocated += st.st_blocks * 512
    return size, allocated


@pytest.mark.timeout(600)
async def test_each_byte_of_a_jobs_output_is_stored_once(db: Database, tmp_path: Path) -> None:
    job_id = add_job(db, "chatty", spec_config(printer(OUTPUT)))
    controller = Controller(db.engine, make_settings(tmp_path, db))
    await run_all(controller, deadline=500)
    job = get_job(db, job_id)
    assert job.state == "success", job.description
    build = tmp_path / "artifacts" / "logs" / "chatty" / str(job.build_id)
    log = (build / "build-log.txt").stat().st_size
    size, allocated = stored(tmp_path / "runs", tmp_path / "artifacts")
    print(
        f"\noutput {OUTPUT} bytes: build-log.txt {log} bytes; on disk {size} bytes in files, "
        f"{allocated} allocated ({allocated / OUTPUT:.2f}x the output)"
    )
    assert OUTPUT <= log <= OUTPUT * 1.05  # timestamps and [task/step] on every line
    assert allocated <= OUTPUT * 1.1 + SLACK


async def test_output_past_max_output_bytes_is_dropped_and_the_step_goes_on(
    db: Database, tmp_path: Path
) -> None:
    done = host_dir(tmp_path) / "done"
    script = f"{printer(3_000_000, 100)}; echo after; touch {done}"
    job_id = add_job(db, "flood", spec_config(script))
    settings = make_settings(tmp_path, db, max_output_bytes=1_000_000)
    await run_all(Controller(db.engine, settings), deadline=120)
    job = get_job(db, job_id)
    assert job.state == "success", job.description
    assert done.exists()  # never blocked: its output was read (and dropped) to the end
    build = tmp_path / "artifacts" / "logs" / "flood" / str(job.build_id)
    log = (build / "build-log.txt").read_text()
    kept = [line for line in log.splitlines() if "[test/test] " in line]
    assert 900_000 < sum(len(line) + 1 for line in kept) <= 1_000_000
    assert "after" not in kept[-1]
    cut = "output cut: step output after 1000000 bytes is dropped (controller.max_output_bytes)"
    dropped = re.search(
        r"output cut: (\d+) bytes of step 'test' dropped after 1000000 bytes "
        r"\(controller\.max_output_bytes\)",
        log,
    )
    assert cut in log and dropped is not None
    assert int(dropped.group(1)) > 3_000_000 - 1_000_000
    # The task's own log (its lines of the build log) says so too.
    run = json.loads((build / "pipeline-run.json").read_text())
    task = read_task_log(build, run["tasks"]["test"]["log"]).decode()
    assert cut in task and dropped.group(0) in task
