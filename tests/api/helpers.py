"""Shared pieces of the API tests: a job config, seeded rows, and an app on a test database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from foredeck.db import session_factory
from foredeck.db.jobs import JobCreate, Pull, Refs, create_job, set_state
from foredeck.db.models import JobState
from foredeck.serve.app import create_service_app
from foredeck.settings import ApiSettings, ArtifactSettings, HookSettings, Settings
from tests.db.fixtures import Database

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

JOB_CONFIG = """\
presubmits:
  acme/widget:
  - name: unit
    always_run: true
    spec: {containers: [{image: alpine, command: [echo, hi]}]}
  - name: main-only
    branches: ['^main$']
    spec: {containers: [{image: alpine}]}
postsubmits:
  acme/widget:
  - name: publish
    spec: {containers: [{image: alpine}]}
periodics:
- name: nightly
  interval: 24h
  spec: {containers: [{image: alpine}]}
"""


def settings_for(
    db: Database, tmp_path: Path, *, token: str | None = TOKEN, **api: Any
) -> Settings:
    """Settings on `db`; `api` adds `ApiSettings` fields (`anonymous_writes`, ...)."""
    config = tmp_path / "jobs.yaml"
    config.write_text(JOB_CONFIG)
    return Settings(
        database_url=db.url,
        hook=HookSettings(secrets=[SecretStr("hook-secret")]),
        config_path=str(config),
        artifacts=ArtifactSettings(url=f"file://{tmp_path / 'artifacts'}"),
        api=ApiSettings(token=SecretStr(token) if token else None, **api),
    )


def app_for(db: Database, tmp_path: Path, *, token: str | None = TOKEN, **api: Any) -> FastAPI:
    return create_service_app(settings_for(db, tmp_path, token=token, **api), db.engine)


@contextmanager
def client_for(
    db: Database, tmp_path: Path, *, token: str | None = TOKEN, **api: Any
) -> Iterator[TestClient]:
    with TestClient(app_for(db, tmp_path, token=token, **api)) as client:
        yield client


def presubmit(
    name: str = "unit", pr: int = 7, author: str = "alice", repo: str = "widget"
) -> JobCreate:
    refs = Refs(
        org="acme",
        repo=repo,
        base_ref="main",
        base_sha="a" * 40,
        pulls=[Pull(number=pr, sha="b" * 40, author=author, title="Fix it")],
    )
    return JobCreate(
        name=name,
        type="presubmit",
        refs=refs,
        job_config={"name": name, "always_run": True},
        context=name,
        cause="delivery-1",
        trigger_reason="opened",
    )


def postsubmit(name: str = "publish") -> JobCreate:
    refs = Refs(org="acme", repo="widget", base_ref="main", base_sha="c" * 40)
    return JobCreate(name=name, type="postsubmit", refs=refs, cause="delivery-2")


def batch(authors: list[str]) -> JobCreate:
    refs = Refs(
        org="acme",
        repo="widget",
        base_ref="main",
        base_sha="d" * 40,
        pulls=[Pull(number=10 + i, sha="e" * 40, author=a) for i, a in enumerate(authors)],
    )
    return JobCreate(name="unit", type="batch", refs=refs)


def seed(db: Database, *specs: JobCreate) -> list[int]:
    with session_factory(db.engine).begin() as session:
        return [create_job(session, spec)[0].id for spec in specs]


def finish(db: Database, job_id: int, state: JobState = "success") -> None:
    with session_factory(db.engine).begin() as session:
        assert set_state(session, job_id, state)
