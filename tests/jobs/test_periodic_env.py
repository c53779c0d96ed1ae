"""Periodic jobs keep the env their presets give them, on both ways a periodic starts: a run
the scheduler creates and `POST /api/jobs`. The proof is what the step prints, not the row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from foredeck.config import JobConfig, load_config
from foredeck.controller import Controller
from foredeck.periodics import PeriodicScheduler
from foredeck.serve.app import create_service_app
from foredeck.settings import ApiSettings, Settings
from tests.controller.helpers import get_job, make_settings, run_all
from tests.db.fixtures import Database

TOKEN = "s3cret-token"

JOBS_YAML = """\
presets:
- labels: {preset-creds: "true"}
  env: [{name: CREDS, value: from-the-preset}]
periodics:
- name: piped
  interval: 24h
  labels: {preset-creds: "true"}
  pipeline:
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: show}
    spec:
      steps:
      - {name: show, image: busybox, script: 'echo "creds=$CREDS"'}
- name: contained
  interval: 24h
  labels: {preset-creds: "true"}
  spec:
    containers:
    - {image: busybox, command: [sh, -c, 'echo "creds=$CREDS"']}
"""


def settings_with_jobs(tmp_path: Path, db: Database) -> Settings:
    config = tmp_path / "jobs.yaml"
    config.write_text(JOBS_YAML)
    settings = make_settings(tmp_path, db)
    return settings.model_copy(
        update={"config_path": str(config), "api": ApiSettings(token=SecretStr(TOKEN))}
    )


async def step_output(db: Database, settings: Settings, job_id: int, tmp_path: Path) -> str:
    await run_all(Controller(db.engine, settings))
    job = get_job(db, job_id)
    assert job.state == "success", job.description
    build = tmp_path / "artifacts" / "logs" / job.name / str(job.build_id)
    return (build / "build-log.txt").read_text()


@pytest.mark.parametrize("name", ["piped", "contained"])
async def test_a_scheduled_periodic_step_sees_its_preset_env(
    db: Database, tmp_path: Path, name: str
) -> None:
    settings = settings_with_jobs(tmp_path, db)
    result = load_config([str(settings.config_path)])
    assert result.ok, result.errors
    jobs = JobConfig(periodics=[p for p in result.jobs.periodics if p.name == name])
    [job_id] = PeriodicScheduler(db.engine, lambda: jobs).tick(datetime(2026, 1, 1, tzinfo=UTC))
    assert "creds=from-the-preset" in await step_output(db, settings, job_id, tmp_path)


@pytest.mark.parametrize("name", ["piped", "contained"])
async def test_a_periodic_started_through_the_api_sees_its_preset_env(
    db: Database, tmp_path: Path, name: str
) -> None:
    settings = settings_with_jobs(tmp_path, db)
    app = create_service_app(settings, db.engine)
    with TestClient(app) as client:
        answer = client.post(
            "/api/jobs", json={"name": name}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    assert "creds=from-the-preset" in await step_output(db, settings, job_id, tmp_path)
