"""From triggered to each final state, with real pipelines, checkouts and artifacts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from foredeck.controller import Controller
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


async def test_periodic_success_publishes_prow_layout(db: Database, tmp_path: Path) -> None:
    job_id = add_job(
        db,
        "nightly",
        spec_config('echo "job=$JOB_NAME type=$JOB_TYPE id=$PROW_JOB_ID build=$BUILD_ID"'),
    )
    controller = Controller(db.engine, make_settings(tmp_path, db))
    await run_all(controller)

    job = get_job(db, job_id)
    assert job.state == "success", job.description
    assert job.description == "Job succeeded."
    assert job.build_id and len(job.build_id) == 19
    assert job.owner is None and job.started_at and job.finished_at
    assert job.started_at <= job.finished_at
    build = tmp_path / "artifacts" / "logs" / "nightly" / job.build_id
    assert job.url == f"file://{build}"
    assert job.workspace == str(tmp_path / "runs" / str(job_id))
    log = (build / "build-log.txt").read_text()
    assert f"job=nightly type=periodic id={job_id} build={job.build_id}" in log
    assert read_json(build / "finished.json")["result"] == "SUCCESS"
    assert "timestamp" in read_json(build / "started.json")
    prowjob = read_json(build / "prowjob.json")
    assert prowjob["kind"] == "ProwJob"
    assert prowjob["spec"]["job"] == "nightly" and prowjob["spec"]["type"] == "periodic"
    assert prowjob["status"]["state"] == "success"
    assert prowjob["status"]["build_id"] == job.build_id
    assert (
        tmp_path / "artifacts" / "logs" / "nightly" / "latest-build.txt"
    ).read_text() == job.build_id


async def test_failing_step_ends_failure(db: Database, tmp_path: Path) -> None:
    job_id = add_job(db, "broken", spec_config("echo about to fail; exit 3"))
    registry = CollectorRegistry()
    await run_all(Controller(db.engine, make_settings(tmp_path, db), registry=registry))
    assert registry.get_sample_value("foredeck_controller_jobs_started_total") == 1
    finished = registry.get_sample_value(
        "foredeck_controller_jobs_finished_total", {"state": "failure"}
    )
    assert finished == 1
    job = get_job(db, job_id)
    assert job.state == "failure"
    assert job.description == "Job failed: test failed."
    build = tmp_path / "artifacts" / "logs" / "broken" / str(job.build_id)
    assert read_json(build / "finished.json")["result"] == "FAILURE"
    assert "about to fail" in (build / "build-log.txt").read_text()


async def test_inline_pipeline_runs(db: Database, tmp_path: Path) -> None:
    pipeline = {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": "hello"},
        "spec": {
            "steps": [
                {
                    "name": "say",
                    "image": "busybox",
                    "script": "echo inline-$BUILD_ID preset=$FROM_PRESET",
                }
            ]
        },
    }
    job_id = add_job(db, "inline", {"pipeline": pipeline, "preset_env": {"FROM_PRESET": "yes"}})
    await run_all(Controller(db.engine, make_settings(tmp_path, db)))
    job = get_job(db, job_id)
    assert job.state == "success", job.description
    log = (
        tmp_path / "artifacts" / "logs" / "inline" / str(job.build_id) / "build-log.txt"
    ).read_text()
    assert f"inline-{job.build_id} preset=yes" in log


async def test_presubmit_checks_out_base_merged_with_the_pull(db: Database, tmp_path: Path) -> None:
    up = Upstream(tmp_path / "repos")
    head = up.topic("pr-branch", {"feature.txt": "feature\n"}, "A change")
    base = up.commit("main moves on", {"later.txt": "on main after the branch\n"})
    script = (
        "test -f feature.txt && test -f later.txt && test -f base.txt && "
        'echo "pr=$PULL_NUMBER sha=$PULL_PULL_SHA base=$PULL_BASE_SHA refs=$PULL_REFS '
        'owner=$REPO_OWNER name=$REPO_NAME ref=$PULL_BASE_REF" && git log -1 --format=%P'
    )
    job_id = add_job(
        db,
        "unit",
        spec_config(script),
        type="presubmit",
        refs=up.refs(12, head, "refs/heads/pr-branch"),
    )
    await run_all(Controller(db.engine, make_settings(tmp_path, db)))
    job = get_job(db, job_id)
    assert job.state == "success", job.description
    build = (
        tmp_path / "artifacts" / "pr-logs" / "pull" / "org_repo" / "12" / "unit" / str(job.build_id)
    )
    log = (build / "build-log.txt").read_text()
    assert (
        f"pr=12 sha={head} base={base} refs=main:{base},12:{head} owner=org name=repo ref=main"
        in log
    )
    assert f"{base} {head}" in log  # HEAD is a merge of the pull into the base
    records = read_json(build / "clone-records.json")
    assert records[0]["refs"]["pulls"][0]["number"] == 12 and records[0]["final_sha"]
    started = read_json(build / "started.json")
    assert started["pull"] == "12" and started["repos"] == {"org/repo": f"main:{base},12:{head}"}
    assert started["repo-commit"] == records[0]["final_sha"]
    for latest in (
        tmp_path / "artifacts" / "pr-logs" / "directory" / "unit" / "latest-build.txt",
        build.parent / "latest-build.txt",
    ):
        assert latest.read_text() == job.build_id


async def test_merge_conflict_ends_error_with_reason(db: Database, tmp_path: Path) -> None:
    up = Upstream(tmp_path / "repos")
    head = up.topic("pr-branch", {"shared.txt": "theirs\n"}, "A change")
    up.commit("main moves on", {"shared.txt": "ours\n"})
    job_id = add_job(
        db,
        "unit",
        spec_config("true"),
        type="presubmit",
        refs=up.refs(7, head, "refs/heads/pr-branch"),
    )
    await run_all(Controller(db.engine, make_settings(tmp_path, db)))
    job = get_job(db, job_id)
    assert job.state == "error"
    assert job.description == (
        f"merge conflict merging #7 ({head[:12]}) into main: conflicts in shared.txt"
    )
    build = (
        tmp_path / "artifacts" / "pr-logs" / "pull" / "org_repo" / "7" / "unit" / str(job.build_id)
    )
    assert read_json(build / "finished.json")["result"] == "ERROR"
    assert "merge conflict" in (build / "build-log.txt").read_text()
    assert read_json(build / "clone-records.json")[0]["failed"] is True
    assert read_json(build / "prowjob.json")["status"]["state"] == "error"


async def test_broken_pipeline_ends_error(db: Database, tmp_path: Path) -> None:
    up = Upstream(tmp_path / "repos")
    job_id = add_job(
        db,
        "e2e",
        {"pipeline": "ci/missing.yaml"},
        type="postsubmit",
        refs=up.refs(1, up.head(), "main").model_copy(update={"pulls": []}),
    )
    await run_all(Controller(db.engine, make_settings(tmp_path, db)))
    job = get_job(db, job_id)
    assert job.state == "error"
    assert job.description == "pipeline file ci/missing.yaml not found in the repository"
    assert (
        job.url
        and (
            tmp_path / "artifacts" / "logs" / "e2e" / str(job.build_id) / "finished.json"
        ).is_file()
    )


def test_service_thread_wakes_on_notify_and_reports_changes(db: Database, tmp_path: Path) -> None:
    changes = threading.Semaphore(0)
    settings = make_settings(tmp_path, db, poll_interval=60)
    controller = Controller.from_settings(settings, db.engine, on_state_change=changes.release)
    controller.start()
    try:
        time.sleep(0.2)  # let the first (empty) round pass: only notify() can wake it now
        job_id = add_job(db, "woken", spec_config("true"))
        controller.notify()
        assert changes.acquire(timeout=20)  # claimed
        assert changes.acquire(timeout=20)  # finished
    finally:
        controller.stop(timeout=10)
    assert get_job(db, job_id).state == "success"
