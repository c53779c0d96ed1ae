"""The dashboard's merge pool page (`/tide`): Tide's recorded pools, read-only, each shown to
whoever may view its repository; what comes from pull requests is escaped."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from foredeck.serve.app import create_service_app
from foredeck.tide.pool import PoolState
from foredeck.tide.record import save_pools
from tests.api.access import access_settings, bearer, make_token
from tests.db.fixtures import Database


def pools() -> list[PoolState]:
    acme = PoolState("acme", "widget", "main", "a" * 40, "batch")
    acme.pulls = [
        {
            "number": 7,
            "title": "<script>x</script>",
            "sha": "b" * 40,
            "why": "In merge pool.",
            "ready": True,
        },
        {
            "number": 8,
            "title": "WIP",
            "sha": "c" * 40,
            "why": "Not mergeable. Needs lgtm label.",
            "ready": False,
        },
    ]
    other = PoolState("other", "secret", "main", "d" * 40, "wait")
    other.pulls = [
        {"number": 1, "title": "classified", "sha": "e" * 40, "why": "x", "ready": False}
    ]
    return [acme, other]


def test_pools_are_shown_by_role_and_escaped(sqlite_db: Database, tmp_path: Path) -> None:
    save_pools(sqlite_db.engine, pools())
    app = create_service_app(access_settings(sqlite_db, tmp_path, local_scm=True), sqlite_db.engine)
    with TestClient(app) as client:
        _, vera = make_token(client, "vera", "viewer")  # a viewer of acme/* only
        anonymous = client.get("/tide")
        assert anonymous.status_code == 200 and 'id="no-pools"' in anonymous.text
        page = client.get("/tide", headers=bearer(vera)).text
    assert "acme/widget" in page and "other/secret" not in page and "classified" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert "Not mergeable. Needs lgtm label." in page and "<strong>batch</strong>" in page
    assert 'href="http://127.0.0.1:8888/pr-history/acme/widget/7"' in page


def test_a_new_sync_replaces_the_pools(sqlite_db: Database, tmp_path: Path) -> None:
    save_pools(sqlite_db.engine, pools())
    save_pools(sqlite_db.engine, pools()[:1])
    app = create_service_app(access_settings(sqlite_db, tmp_path, local_scm=True), sqlite_db.engine)
    with TestClient(app) as client:
        _, alice = make_token(client, "alice", "admin")
        page = client.get("/tide", headers=bearer(alice)).text
    assert "acme/widget" in page and "other/secret" not in page
