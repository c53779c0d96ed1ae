"""`/api/leases`, `foredeck lease ...` and the lease metrics, on a SQLite database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import update
from typer.testing import CliRunner

from foredeck.cli_app import app as cli
from foredeck.db.models import LeaseResource
from foredeck.db.types import utcnow
from foredeck.leases import LeaseService, store
from foredeck.leases.metrics import LeaseCollector
from foredeck.serve.app import create_service_app
from foredeck.settings import ControllerSettings, LeaseSettings, Settings
from tests.api.helpers import AUTH, TOKEN, settings_for
from tests.db.fixtures import Database
from tests.kit.server import running

LEASES = LeaseSettings.model_validate({"types": [{"name": "slot", "resources": ["a"]}]})


def lease_settings(db: Database, tmp_path: Path) -> Settings:
    return settings_for(db, tmp_path).model_copy(update={"leases": LEASES})


def test_acquire_heartbeat_release_through_the_api(sqlite_db: Database, tmp_path: Path) -> None:
    settings = lease_settings(sqlite_db, tmp_path)
    LeaseService(sqlite_db.engine, LEASES).sync()
    with TestClient(create_service_app(settings, sqlite_db.engine)) as client:
        body = {"type": "slot", "owner": "job-1", "ttl": 60}
        assert client.post("/api/leases", json=body).status_code == 401
        got = client.post("/api/leases", json=body, headers=AUTH)
        assert got.status_code == 201, got.text
        lease = got.json()
        assert (lease["name"], lease["owner"], lease["ttl"]) == ("a", "job-1", 60)
        listed = client.get("/api/leases").json()
        assert listed == [
            {
                "type": "slot",
                "name": "a",
                "state": "busy",
                "dynamic": False,
                "owner": "job-1",
                "acquired_at": listed[0]["acquired_at"],
                "expires_at": listed[0]["expires_at"],
            }
        ]
        assert "id" not in listed[0]  # the lease id is the holder's alone
        refused = client.post("/api/leases", json=body | {"wait": 0.1}, headers=AUTH)
        assert refused.status_code == 409 and "no free slot" in refused.json()["detail"]
        unknown = client.post("/api/leases", json=body | {"type": "gpu"}, headers=AUTH)
        assert unknown.status_code == 404
        beat = client.post(f"/api/leases/{lease['id']}/heartbeat", json={"ttl": 90}, headers=AUTH)
        assert beat.status_code == 200 and beat.json()["expires_at"] > lease["expires_at"]
        path = f"/api/leases/{lease['id']}/release"
        assert client.post(path, json={}, headers=AUTH).json() == {"released": True}
        assert client.post(path, json={}, headers=AUTH).json() == {"released": False}
        gone = client.post(f"/api/leases/{lease['id']}/heartbeat", json={"ttl": 9}, headers=AUTH)
        assert gone.status_code == 404
        bad = client.post("/api/leases/../x/release", json={}, headers=AUTH)
        assert bad.status_code in (404, 422)
        assert client.post("/api/leases/xyz/release", json={}, headers=AUTH).status_code == 422
    assert [r.state for r in store.resources(sqlite_db.engine)] == ["dirty"]


def test_cli_acquire_release_and_list_against_a_server(sqlite_db: Database, tmp_path: Path) -> None:
    settings = lease_settings(sqlite_db, tmp_path)
    LeaseService(sqlite_db.engine, LEASES).sync()
    runner = CliRunner()
    with running(create_service_app(settings, sqlite_db.engine)) as url:
        env = {"FOREDECK_SERVER": url, "FOREDECK_API_TOKEN": TOKEN}
        got = runner.invoke(
            cli, ["lease", "acquire", "slot", "--owner", "me", "--ttl", "60"], env=env
        )
        assert got.exit_code == 0, got.output
        lease = json.loads(got.output)
        listed = runner.invoke(cli, ["lease", "list"], env=env)
        assert "a" in listed.output and "busy" in listed.output and "me" in listed.output
        none = runner.invoke(
            cli, ["lease", "acquire", "slot", "--owner", "x", "--ttl", "5"], env=env
        )
        assert none.exit_code == 1 and "409" in none.output
        beat = runner.invoke(cli, ["lease", "heartbeat", lease["id"], "--ttl", "30"], env=env)
        assert beat.exit_code == 0
        done = runner.invoke(cli, ["lease", "release", lease["id"], "--clean"], env=env)
        assert done.exit_code == 0 and "released" in done.output
    assert [r.state for r in store.resources(sqlite_db.engine)] == ["free"]


def test_cli_janitor_reaps_and_cleans_from_a_settings_file(
    sqlite_db: Database, tmp_path: Path
) -> None:
    service = LeaseService(sqlite_db.engine, LEASES)
    gone = LeaseService(
        sqlite_db.engine,
        LeaseSettings.model_validate({"types": [{"name": "slot", "resources": ["a", "old"]}]}),
    )
    gone.sync()
    service.sync()  # "old" is no longer configured: a tombstone, made a month ago
    with sqlite_db.engine.begin() as conn:
        month_ago = utcnow() - timedelta(days=30)
        old = update(LeaseResource).where(LeaseResource.name == "old")
        conn.execute(old.values(updated_at=month_ago))
    service.acquire("slot", "dead-job", ttl=0.01)
    config = tmp_path / "settings.yaml"
    config.write_text(
        yaml.safe_dump({"database_url": sqlite_db.url, "leases": LEASES.model_dump(mode="json")})
    )
    out = CliRunner().invoke(cli, ["lease", "janitor", "--config", str(config)])
    assert out.exit_code == 0, out.output
    assert "reaped: a: its lease expired" in out.output
    assert "purged: 1 tombstones older than leases.tombstone_retention" in out.output
    assert [(r.name, r.state) for r in store.resources(sqlite_db.engine)] == [("a", "free")]


def test_metrics_count_resources_by_type_and_state(sqlite_db: Database) -> None:
    service = LeaseService(sqlite_db.engine, LEASES)
    service.sync()
    registry = CollectorRegistry()
    registry.register(LeaseCollector(sqlite_db.engine, ["slot"]))
    service.acquire("slot", "job", ttl=60)
    text = generate_latest(registry).decode()
    assert 'foredeck_lease_resources{state="busy",type="slot"} 1.0' in text
    assert 'foredeck_lease_resources{state="free",type="slot"} 0.0' in text


def test_the_controller_role_runs_the_keeper_and_exports_metrics(tmp_path: Path) -> None:
    from foredeck.leases import LeaseKeeper
    from foredeck.serve.compose import build_service

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'fd.db'}",
        controller=ControllerSettings(workdir=str(tmp_path / "runs")),
        leases=LEASES,
    )
    service = build_service(settings, "controller")
    try:
        keepers = [c for c in service.components if isinstance(c, LeaseKeeper)]
        assert len(keepers) == 1
        keepers[0].start()  # syncs the static resources, then reaps and cleans on its interval
        keepers[0].stop()
        text = generate_latest(service.registry).decode()
        assert 'foredeck_lease_resources{state="free",type="slot"} 1.0' in text
    finally:
        service.stop()
    assert not any(
        isinstance(c, LeaseKeeper)
        for c in build_service(
            Settings(database_url=f"sqlite:///{tmp_path / 'fd.db'}"), "sinker"
        ).components
    )
