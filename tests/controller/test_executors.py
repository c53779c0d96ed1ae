"""A new executor plugs in through the registry the real ones use, without the controller
knowing it: a job of its agent runs there, gets the whole `RunRequest`, and is published and
ended like any other."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from foredeck.controller import Controller
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, create_job
from foredeck.execute.executor import RunRequest
from foredeck.execute.executors import BUILTIN, Executors
from foredeck.execute.record import RunRecord
from foredeck.execute.runstate import RunResult, TaskRecord
from foredeck.execute.workspace import RunLayout
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.settings import Settings
from tests.controller.helpers import (
    Upstream,
    add_job,
    get_job,
    make_settings,
    read_json,
    run_all,
    spec_config,
)
from tests.db.fixtures import Database


class FakeExecutor:
    """Runs nothing: every task succeeds at once. Writes the run's files with the record every
    executor shares, and keeps what it was asked."""

    name = "fake"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.requests: list[tuple[PipelineRunSpec, RunRequest]] = []

    async def run(
        self, run: PipelineRunSpec, out_dir: Path, request: RunRequest, cancel: asyncio.Event
    ) -> RunResult:
        self.requests.append((run, request))
        layout = RunLayout(out_dir)
        layout.prepare()
        tasks = {t.name: TaskRecord(t.name, t.name, status="Succeeded") for t in run.pipeline.tasks}
        record = RunRecord(layout, "fake-run", run.pipeline.name, {}, lambda: tasks)
        record.start(time.time(), request.max_output, engine="fake")
        record.log(f"ran by the fake executor for job {request.job_id}")
        return record.finish("Succeeded", {}, engine="fake")


def with_fake(settings: Settings) -> tuple[Executors, FakeExecutor]:
    executors = Executors.from_settings(settings, {**BUILTIN, "fake": FakeExecutor})
    fake = executors.executors["fake"]
    assert isinstance(fake, FakeExecutor)
    return executors, fake


def add_agent_job(db: Database, up: Upstream, name: str, agent: str) -> int:
    head = up.topic("pr", {"feature.txt": "new\n"}, "A change")
    spec = JobCreate(
        name=name,
        type="presubmit",
        refs=up.refs(7, head, "refs/heads/pr"),
        job_config={"name": name, "agent": agent, **spec_config("echo never here")},
        agent=agent,
    )
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        job, _ = create_job(session, spec)
        return job.id


async def test_a_registered_executor_runs_the_jobs_of_its_agent(
    db: Database, tmp_path: Path
) -> None:
    up = Upstream(tmp_path / "repos")
    job_id = add_agent_job(db, up, "pull-fake", "fake")
    local = add_job(db, "plain", spec_config("echo here"))
    settings = make_settings(tmp_path, db, max_output_bytes=5000)
    executors, fake = with_fake(settings)
    controller = Controller(db.engine, settings, executors=executors)
    await run_all(controller)

    job = get_job(db, job_id)
    assert job.state == "success", job.description
    assert get_job(db, local).state == "success"  # the other agents are still there
    [(run, request)] = fake.requests
    assert request.job_id == job_id and request.build_id == job.build_id
    env: dict[str, Any] = dict(request.env)
    assert env["JOB_NAME"] == "pull-fake" and env["PULL_NUMBER"] == "7"
    assert "PATH" not in env  # Prow's variables only: the host's are the executor's business
    workspace = tmp_path / "runs" / str(job_id)
    assert request.checkout == workspace / "src"
    assert request.workdir == workspace / "src" / "org" / "repo"
    assert (request.workdir / "feature.txt").read_text() == "new\n"  # checked out, merged
    [refs] = request.refs
    assert refs.clone_uri == str(up.path)  # resolved by the controller's SCM
    assert request.max_output is not None and request.max_output.bytes == 5000
    assert request.grace == settings.controller.default_grace_period
    assert request.marker is not None and request.marker.startswith(f"{controller.owner}/")
    assert request.build_dir == f"pr-logs/pull/org_repo/7/pull-fake/{job.build_id}"
    assert request.store is not None and request.store().url.startswith("file://")
    # The controller left the pipeline's steps as the job gave them: where they run is the
    # executor's choice (the local executor puts them in `request.workdir`).
    assert all(step.working_dir is None for t in run.pipeline.tasks for step in t.task_spec.steps)  # type: ignore[union-attr]

    build = tmp_path / "artifacts" / "pr-logs" / "pull" / "org_repo" / "7" / "pull-fake"
    out = build / str(job.build_id)
    assert "ran by the fake executor" in (out / "build-log.txt").read_text()
    assert read_json(out / "finished.json")["result"] == "SUCCESS"
    assert read_json(out / "prowjob.json")["spec"]["agent"] == "fake"


async def test_the_registry_names_the_agents_it_runs_when_refusing_one(
    db: Database, tmp_path: Path
) -> None:
    up = Upstream(tmp_path / "repos")
    job_id = add_agent_job(db, up, "pull-jenkins", "jenkins")
    settings = make_settings(tmp_path, db)
    executors, fake = with_fake(settings)
    await run_all(Controller(db.engine, settings, executors=executors))
    job = get_job(db, job_id)
    assert (job.state, job.description) == (
        "error",
        "agent 'jenkins' is not supported: foredeck runs agent kubernetes (on kube.default_agent)"
        ", local, argo, tekton and fake jobs",
    )
    assert fake.requests == []
    assert not (tmp_path / "runs" / str(job_id) / "src").exists()  # refused before any checkout
