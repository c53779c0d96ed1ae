"""Builds made the way the controller makes them: a job's config snapshot turned into a pipeline
(`job_model` + `build_run`), run by the local executor, published to a store in Prow's layout.
Job rows pointing at them are added per test, on each database backend."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from foredeck.access.gate import SESSION_COOKIE
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, Pull, Refs, create_job, set_state
from foredeck.db.models import Job, JobState, JobType
from foredeck.execute.local import run_pipeline
from foredeck.jobs import build_run, job_model
from foredeck.serve.app import create_service_app
from foredeck.settings import Settings
from foredeck.storage.layout import job_paths
from foredeck.storage.publish import publish_run
from foredeck.storage.store import ArtifactStore
from tests.db.fixtures import Database
from tests.kit.jobs import tekton_task

XSS = "<script>alert('pwned')</script>"
JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="widget" tests="3">
    <testcase classname="widget" name="test_passes" time="0.5"/>
    <testcase classname="widget" name="test_skipped" time="0"><skipped/></testcase>
    <testcase classname="widget" name="test_breaks" time="1.25">
      <failure message="assert 1 == 2">Traceback: boom &lt;b&gt;</failure>
    </testcase>
  </testsuite>
</testsuites>
"""


# prepare -> build -> test (fails, after one retry) -> deploy (skipped); prepare -> lint;
# finally: report.
GRAPH_PIPELINE: list[dict[str, Any]] = [
    tekton_task("prepare", "#!/bin/sh\necho preparing\n"),
    tekton_task("lint", "#!/bin/sh\nprintf '\\033[32mlint ok\\033[0m\\n'\n"),
    tekton_task(
        "build",
        '#!/bin/sh\nfor i in $(seq 1 60); do echo "compiling unit $i"; done\n'
        "printf '<html><script>alert(1)</script></html>' > \"$ARTIFACTS/page.html\"\n"
        "printf '\\000\\001\\002binary' > \"$ARTIFACTS/blob.bin\"\n",
    ),
    tekton_task(
        "test",
        "#!/bin/sh\n"
        '[ "$(context.task.retry-count)" -ge 1 ] || { echo "flaky first attempt"; exit 1; }\n'
        f"cat > \"$ARTIFACTS/junit_unit.xml\" <<'EOF'\n{JUNIT}EOF\n"
        'for i in $(seq 1 40); do echo "test line $i"; done\n'
        "printf '\\033[31mred text\\033[0m plain\\n'\n"
        f'echo "{XSS}"\n'
        'echo "ERROR: widget test failed"\n'
        "exit 1\n",
    ),
    tekton_task("deploy", "#!/bin/sh\necho deploying\n"),
    tekton_task("report", "#!/bin/sh\necho reporting\n"),
    {
        "apiVersion": "tekton.dev/v1",
        "kind": "Pipeline",
        "metadata": {"name": "ci"},
        "spec": {
            "tasks": [
                {"name": "prepare", "taskRef": {"name": "prepare"}},
                {"name": "lint", "taskRef": {"name": "lint"}, "runAfter": ["prepare"]},
                {"name": "build", "taskRef": {"name": "build"}, "runAfter": ["prepare"]},
                {
                    "name": "test",
                    "taskRef": {"name": "test"},
                    "runAfter": ["build"],
                    "retries": 1,
                },
                {"name": "deploy", "taskRef": {"name": "deploy"}, "runAfter": ["test"]},
            ],
            "finally": [{"name": "report", "taskRef": {"name": "report"}}],
        },
    },
]

REFS = Refs(
    org="acme",
    repo="widget",
    base_ref="main",
    base_sha="a" * 40,
    pulls=[Pull(number=7, author="alice", sha="b" * 40)],
)


@dataclass(frozen=True)
class Build:
    name: str
    type: JobType
    build_id: str
    config: dict[str, Any]
    refs: Refs | None
    state: JobState


def run_and_publish(
    store: ArtifactStore, out: Path, name: str, type: JobType, config: dict[str, Any]
) -> Build:
    """Run the job's pipeline like the controller does, then publish it in Prow's layout."""
    refs = REFS if type == "presubmit" else None
    build_id = "1790000000000000001"
    job = Job(name=name, type=type, org=refs.org if refs else None, job_config=config)
    job.repo = refs.repo if refs else None
    run = build_run(job_model(job), None)
    # A thread of its own: the caller's thread may already run an event loop (pytest-asyncio,
    # Playwright's sync API in the browser tests).
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(
            asyncio.run, run_pipeline(run, out, parallel=2, env=dict(os.environ), kill_grace=1.0)
        ).result(timeout=60)
    pr = refs.pulls[0].number if refs else None
    paths = job_paths(type, job.org, job.repo, pr, name, build_id)
    publish_run(store, paths, out)
    return Build(name, type, build_id, config, refs, "success" if result.passed else "failure")


def add_row(
    db: Database, build: Build, *, state: JobState | None = None, url: str | None = None
) -> int:
    """A job row for `build` (created, started, finished through `set_state`)."""
    spec = JobCreate(name=build.name, type=build.type, refs=build.refs, job_config=build.config)
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        job, _ = create_job(session, spec)
        final = state or build.state
        if final == "triggered":
            return job.id
        set_state(session, job.id, "pending", build_id=build.build_id)
        if final != "pending":
            set_state(session, job.id, final, description=f"Job {final}.", url=url)
        return job.id


ADMIN_TOKEN = "dashboard-admin-token"


def client_for(
    db: Database, store: ArtifactStore, *, signed_in: bool = False, **plugin_config: Any
) -> TestClient:
    """A client of the dashboard; `signed_in`: with the bootstrap token as its session (an
    admin, who sees the rerun and abort buttons)."""
    settings = Settings.model_validate(
        {
            "database_url": db.url,
            "artifacts": {"url": store.url},
            "plugin_config": plugin_config,
            "api": {"token": ADMIN_TOKEN},
        }
    )
    client = TestClient(create_service_app(settings, db.engine, store=store))
    if signed_in:
        client.cookies.set(SESSION_COOKIE, ADMIN_TOKEN)
    return client
