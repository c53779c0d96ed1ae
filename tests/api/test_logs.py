"""`GET /api/jobs/{id}/log`: the workspace copy while it exists, the published copy after."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from foredeck.api import logs
from foredeck.db import Job, session_factory
from foredeck.serve.app import create_service_app
from foredeck.settings import Settings
from foredeck.storage.store import open_store
from tests.api.helpers import client_for, postsubmit, presubmit, seed
from tests.db.fixtures import Database


def set_columns(db: Database, job_id: int, **values: object) -> None:
    with session_factory(db.engine).begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def test_log_from_store_then_workspace(db: Database, tmp_path: Path) -> None:
    pre, post = seed(db, presubmit("unit", pr=7), postsubmit("publish"))
    store = open_store(f"file://{tmp_path / 'artifacts'}")
    store.write_text("pr-logs/pull/acme_widget/7/unit/1001/build-log.txt", "published pre\n")
    store.write_text("logs/publish/1002/build-log.txt", "published post\n")
    set_columns(db, pre, build_id="1001")
    set_columns(db, post, build_id="1002")
    with client_for(db, tmp_path) as client:
        r = client.get(f"/api/jobs/{pre}/log")
        assert r.status_code == 200 and r.text == "published pre\n"
        assert r.headers["x-log-source"] == "artifacts"
        assert r.headers["content-type"].startswith("text/plain")
        assert client.get(f"/api/jobs/{post}/log").text == "published post\n"
        # A live workspace wins over the published copy.
        (tmp_path / "ws" / "out").mkdir(parents=True)
        (tmp_path / "ws" / "out" / "build-log.txt").write_text("live\n")
        set_columns(db, pre, workspace=str(tmp_path / "ws"))
        r = client.get(f"/api/jobs/{pre}/log")
        assert r.text == "live\n" and r.headers["x-log-source"] == "workspace"
        assert client.get("/api/jobs/9999/log").status_code == 404
        assert client.get(f"/api/jobs/{pre}/log", params={"tail": -1}).status_code == 422


class Bytes:
    name = "memory"

    def __init__(self, data: bytes) -> None:
        self.data = data

    def size(self) -> int:
        return len(self.data)

    def read_range(self, start: int, length: int) -> bytes:
        return self.data[start : start + length]


@pytest.mark.parametrize(
    ("data", "tail", "expected"),
    [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 2, b"b\nc"),
        (b"a\nb\nc\n", 10, b"a\nb\nc\n"),
        (b"a\nb\nc\n", 0, b""),
        (b"", 5, b""),
        (b"\n\n\n", 1, b"\n"),
    ],
)
def test_tail(data: bytes, tail: int, expected: bytes) -> None:
    source = Bytes(data)
    part = logs.plan(source, tail)
    assert b"".join(logs.stream(source, part)) == expected


def test_tail_across_chunks_and_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "CHUNK", 7)
    data = b"".join(b"line %d\n" % i for i in range(1000))
    source = Bytes(data)
    part = logs.plan(source, 3)
    assert b"".join(logs.stream(source, part)) == b"line 997\nline 998\nline 999\n"
    capped = logs.plan(source, None, cap=100)
    assert (capped.start, capped.end, capped.truncated) == (0, 100, True)
    assert b"".join(logs.stream(source, capped)) == data[:100]
    # Tail never reads past the cap either: fewer lines than asked, never more bytes.
    tail_capped = logs.plan(source, 500, cap=50)
    assert tail_capped.end - tail_capped.start == 50 and tail_capped.truncated


def test_log_from_the_default_relative_store(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`artifacts.url` defaults to `./.foredeck/artifacts`, relative to the cwd."""
    monkeypatch.chdir(tmp_path)
    (job_id,) = seed(db, postsubmit("publish"))
    set_columns(db, job_id, build_id="77")
    store = open_store(str(tmp_path / ".foredeck" / "artifacts"))
    store.write_text("logs/publish/77/build-log.txt", "default store\n")
    app = create_service_app(Settings(database_url=db.url), db.engine)
    with TestClient(app) as client:
        r = client.get(f"/api/jobs/{job_id}/log")
        assert r.status_code == 200 and r.text == "default store\n"
