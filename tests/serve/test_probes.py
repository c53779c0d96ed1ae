"""Liveness and readiness of both HTTP apps (the hook's and the service's without a secret):
`/livez` never touches the database, `/readyz` (and its alias `/healthz`) is a short read that
neither waits behind a writer nor hangs with the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, event

from foredeck.db import make_engine
from foredeck.hook.server import create_app
from foredeck.serve.app import create_service_app
from foredeck.settings import HookSettings, Settings
from tests.db.fixtures import Database


def hook_app(db: Database) -> FastAPI:
    settings = Settings(database_url=db.url, hook=HookSettings(secrets=[SecretStr("s")]))
    return create_app(settings, db.engine)


def service_app(db: Database) -> FastAPI:
    return create_service_app(Settings(database_url=db.url), db.engine)  # no secret: no /hook


APPS = {"hook": hook_app, "service": service_app}
MakeApp = Callable[[Database], FastAPI]


@pytest.fixture(params=sorted(APPS))
def make_app(request: pytest.FixtureRequest) -> MakeApp:
    return APPS[request.param]


@contextmanager
def writer_holding_the_lock(url: str) -> Iterator[None]:
    """Another connection (as another process would) in a write transaction on the SQLite file."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("INSERT INTO foredeck_alembic_version VALUES ('held')")
            yield
            conn.rollback()
    finally:
        engine.dispose()


def test_probes_answer_while_another_process_writes(sqlite_db: Database, make_app: MakeApp) -> None:
    with TestClient(make_app(sqlite_db)) as client, writer_holding_the_lock(sqlite_db.url):
        for path in ("/livez", "/readyz", "/healthz"):
            answer = client.get(path)
            assert (answer.status_code, answer.json()) == (200, {"status": "ok"}), path


@contextmanager
def hanging_reads(engine: Engine) -> Iterator[threading.Event]:
    """The database stops answering reads until the yielded event is set."""
    release = threading.Event()

    def hang(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            release.wait(60)

    event.listen(engine, "before_cursor_execute", hang)
    try:
        yield release
    finally:
        release.set()
        event.remove(engine, "before_cursor_execute", hang)


def test_readiness_gives_up_on_a_hanging_database_and_liveness_does_not_care(
    db: Database, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("foredeck.web.probes.READY_TIMEOUT", 0.2)
    with TestClient(make_app(db)) as client:
        assert client.get("/readyz").status_code == 200
        with hanging_reads(db.engine) as release:
            timed_out = client.get("/readyz")
            assert timed_out.status_code == 503
            assert timed_out.json() == {"error": "database check timed out"}
            # The hanging check is not started again: no thread piles up per probe.
            again = client.get("/healthz")
            assert (again.status_code, again.json()) == (
                503,
                {"error": "database check still running"},
            )
            assert client.get("/livez").status_code == 200
            release.set()
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "readiness never came back"
                time.sleep(0.05)


def test_an_unreachable_database_is_not_ready_but_alive(tmp_path: Path, make_app: MakeApp) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/test"
    engine = make_engine(url)
    try:
        with TestClient(make_app(Database("postgresql", url, engine))) as client:
            assert client.get("/livez").status_code == 200
            for path in ("/readyz", "/healthz"):
                answer = client.get(path)
                assert (answer.status_code, answer.json()) == (
                    503,
                    {"error": "database unreachable"},
                ), path
    finally:
        engine.dispose()
