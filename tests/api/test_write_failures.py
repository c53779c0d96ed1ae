"""A write the database refuses (a full disk, a lost connection) is a 503 with `Retry-After`, not
a 500: nothing is recorded, the answer is counted in `/metrics` like every other, and the same
request succeeds once the database takes writes again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError

from foredeck.db import Event, Job, session_factory
from foredeck.serve.app import create_service_app
from foredeck.settings import ScmSettings
from tests.api.helpers import AUTH, presubmit, seed, settings_for
from tests.db.fixtures import Database
from tests.kit.git import local_pull_request
from tests.serve.test_http_metrics import counted

WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def refused_writes(engine: Engine) -> Iterator[list[str]]:
    """Every write statement fails as on a full disk; yields the statements refused."""
    refused: list[str] = []

    def refuse(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(WRITES):
            refused.append(statement)
            raise OperationalError(statement, params, Exception("database or disk is full"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield refused
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


def counts(db: Database) -> tuple[int, int, list[str]]:
    """Jobs, events and the jobs' states: what a write would change."""
    with session_factory(db.engine)() as session:
        jobs = session.execute(select(func.count()).select_from(Job)).scalar_one()
        events = session.execute(select(func.count()).select_from(Event)).scalar_one()
        states = list(session.execute(select(Job.state).order_by(Job.id)).scalars())
    return jobs, events, states


@pytest.mark.parametrize(
    ("route", "path", "body", "status"),
    [
        ("/api/jobs", "/api/jobs", {"name": "nightly"}, 201),
        ("/api/jobs/{job_id}/rerun", "/api/jobs/{id}/rerun", None, 201),
        ("/api/jobs/{job_id}/abort", "/api/jobs/{id}/abort", None, 200),
        (
            "/api/repos/{org}/{repo}/pulls/{number}/comments",
            "/api/repos/acme/widget/pulls/1/comments",
            {"body": "/retest", "author": "alice"},
            201,
        ),
    ],
)
def test_a_refused_write_is_503_with_retry_after(
    db: Database,
    tmp_path: Path,
    route: str,
    path: str,
    body: dict[str, str] | None,
    status: int,
) -> None:
    (job_id,) = seed(db, presubmit())
    local_pull_request(tmp_path / "repos")
    settings = settings_for(db, tmp_path).model_copy(
        update={"scm": ScmSettings(provider="local", local_root=str(tmp_path / "repos"))}
    )
    registry = CollectorRegistry()
    app = create_service_app(settings, db.engine, registry=registry)
    url = path.format(id=job_id)
    before = counts(db)
    with TestClient(app, raise_server_exceptions=False) as client:
        with refused_writes(db.engine) as refused:
            answer = client.post(url, json=body, headers=AUTH)
        assert refused, "the route wrote nothing: the test proves nothing"
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "5"
        assert answer.json() == {
            "detail": "the database did not take the write (full, unreachable or busy); retry later"
        }
        assert counted(registry, route, "POST", 503) == 1
        assert counts(db) == before  # nothing half-written
        assert client.post(url, json=body, headers=AUTH).status_code == status


@contextmanager
def refused_statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement fails as with a lost connection; yields the statements refused."""
    refused: list[str] = []

    def refuse(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        refused.append(statement)
        raise OperationalError(statement, params, Exception("server closed the connection"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield refused
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


@pytest.mark.parametrize("path", ["/api/jobs", "/api/jobs/{id}"])
def test_a_read_the_database_cannot_answer_is_503_with_retry_after(
    db: Database, tmp_path: Path, path: str
) -> None:
    (job_id,) = seed(db, presubmit())
    registry = CollectorRegistry()
    app = create_service_app(settings_for(db, tmp_path), db.engine, registry=registry)
    url = path.format(id=job_id)
    with TestClient(app, raise_server_exceptions=False) as client:
        with refused_statements(db.engine) as refused:
            answer = client.get(url)
        assert refused, "the route read nothing: the test proves nothing"
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "5"
        assert "database" in answer.json()["detail"]
        assert client.get(url).status_code == 200
