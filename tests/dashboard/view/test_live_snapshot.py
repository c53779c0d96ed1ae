"""A running job whose workspace is on another machine (the Helm chart's controller pod): the
run page reads the live snapshots the controller uploads to the store."""

from __future__ import annotations

import asyncio
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from foredeck.access.gate import SESSION_COOKIE
from foredeck.controller.live import LiveSnapshots
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.models import Job
from foredeck.execute.local import run_pipeline
from foredeck.jobs import build_run, job_model
from foredeck.serve.app import create_service_app
from foredeck.settings import Settings
from foredeck.storage.layout import job_paths
from foredeck.storage.store import ArtifactStore, open_store
from tests.dashboard.view.builds import ADMIN_TOKEN, Build, add_row
from tests.db.fixtures import Database

BUILD_ID = "1790000000000000042"
SCRIPT = 'for i in $(seq 1 30); do echo "snapshot line $i"; done; echo "panic: it broke"'
CONFIG = {"spec": {"containers": [{"image": "busybox", "command": ["sh", "-c", SCRIPT]}]}}


def run_out(out: Path) -> None:
    """The executor's output of the job, as the controller's workspace would hold it."""
    run = build_run(job_model(Job(name="remote", type="periodic", job_config=CONFIG)), None)
    with ThreadPoolExecutor(1) as pool:  # the caller's thread may run an event loop
        pool.submit(
            asyncio.run, run_pipeline(run, out, parallel=1, env=dict(os.environ), kill_grace=1.0)
        ).result(timeout=60)


def client(db: Database, store: ArtifactStore, interval: float) -> TestClient:
    settings = Settings.model_validate(
        {
            "database_url": db.url,
            "artifacts": {"url": store.url},
            "controller": {"live_publish_interval": interval},
            "api": {"token": ADMIN_TOKEN},
        }
    )
    client = TestClient(create_service_app(settings, db.engine, store=store))
    client.cookies.set(SESSION_COOKIE, ADMIN_TOKEN)  # an admin: the abort button shows
    return client


def running_row(db: Database, workspace: Path) -> int:
    job_id = add_row(db, Build("remote", "periodic", BUILD_ID, CONFIG, None, "pending"))
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.workspace = str(workspace)
    return job_id


def note(page: str) -> str:
    match = re.search(r'<p class="live-note" id="live-note">(.*?)</p>', page, re.S)
    assert match, "no live note on the run page"
    return match.group(1)


def test_running_job_without_its_workspace_reads_the_store_snapshot(
    db: Database, tmp_path: Path
) -> None:
    out = tmp_path / "controller-pod" / "out"
    run_out(out)
    store = open_store(f"file://{tmp_path / 'store'}")
    build_dir = job_paths("periodic", None, None, None, "remote", BUILD_ID).build_dir
    live = LiveSnapshots(lambda: store, build_dir, out, max_bytes=1 << 20, max_file_bytes=1 << 20)
    assert "build-log.txt" in live.snapshot().uploaded
    assert (out / "finished.json").exists() and not store.exists(f"{build_dir}/finished.json")
    # The row's workspace is a path of the controller's pod: not on this machine.
    job_id = running_row(db, tmp_path / "not-here" / "7")
    web = client(db, store, 0.5)

    page = web.get(f"/view/{job_id}").text
    assert "live snapshot from the artifact store, updated every 0.5 s" in note(page)
    assert 'data-action="abort"' in page
    # The page refreshes itself (view.js), no faster than every 3 s.
    assert '<section class="run-head" data-refresh="3">' in page
    assert re.search(r'id="lens-buildlog".*snapshot line 30', page, re.S)
    assert re.search(r'class="log-line log-error" id="L\d+">.*panic: it broke', page)
    raw = web.get(f"/view/{job_id}/log")
    assert raw.status_code == 200 and raw.headers["cache-control"] == "no-store"
    assert raw.text == (out / "build-log.txt").read_text()
    # The graph comes from the snapshot's pipeline-run.json, and task pages from its task logs.
    run = json.loads((out / "pipeline-run.json").read_text())
    task = next(iter(run["tasks"]))
    assert re.search(r'id="lens-graph"', page)
    task_page = web.get(f"/view/{job_id}/task/{task}")
    assert task_page.status_code == 200 and "snapshot line 7" in task_page.text
    assert "finished.json" not in web.get(f"/view/{job_id}/artifacts/").text

    # The log grew past the file cap: the page says the snapshot holds only the tail.
    with open(out / "build-log.txt", "a") as log:
        log.writelines(f"later line {i} {'x' * 60}\n" for i in range(200))
    cut = LiveSnapshots(lambda: store, build_dir, out, max_bytes=1 << 20, max_file_bytes=4096)
    assert cut.snapshot().cut == ["build-log.txt"]
    page = web.get(f"/view/{job_id}").text
    assert re.search(r'class="live-note live-cut">Build log: live snapshot: the first \d+ of', page)
    assert "later line 199" in page
    snapshot_log = web.get(f"/view/{job_id}/log").text
    assert "live snapshot:" in snapshot_log.splitlines()[0]
    assert "snapshot line 1\n" not in snapshot_log and len(snapshot_log) < 4096 + 300

    # Once the workspace is here (the all-in-one server), it is read instead.
    running_here = running_row(db, out.parent)
    assert "read from its workspace" in note(web.get(f"/view/{running_here}").text)
    # A finished job reads the store and says nothing about live files.
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.state = "failure"
    ended = web.get(f"/view/{job_id}").text
    assert 'id="live-note"' not in ended and "data-refresh" not in ended


def test_running_job_before_its_first_snapshot_says_so(db: Database, tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path / 'store'}")
    job_id = running_row(db, tmp_path / "not-here" / "8")
    page = client(db, store, 10).get(f"/view/{job_id}").text
    assert "updated every 10 s (none has arrived yet)" in note(page)
    assert 'data-refresh="10"' in page  # as often as snapshots arrive
    assert client(db, store, 0).get(f"/view/{job_id}").status_code == 200
    assert "live snapshots are off" in note(client(db, store, 0).get(f"/view/{job_id}").text)
