from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from foredeck.hook import build_service
from foredeck.settings import HookSettings, MetricsSettings, Settings, WorkerSettings
from tests.db.fixtures import Database
from tests.hook.helpers import example_bytes
from tests.hook.recorder import handled_counts
from tests.kit.webhooks import SECRET, headers


def test_service_runs_the_worker_and_exports_its_metrics(sqlite_db: Database) -> None:
    settings = Settings(
        database_url=sqlite_db.url,
        hook=HookSettings.model_validate({"secrets": [SECRET]}),
        worker=WorkerSettings(plugins=["tests.hook.recorder:factory"], poll_interval=30),
        metrics=MetricsSettings(public=True),
    )
    app = build_service(settings)
    body = example_bytes("push")
    with TestClient(app) as client:  # runs the lifespan: the worker thread starts
        r = client.post("/hook", content=body, headers=headers(body, "svc-1", event="push"))
        assert r.status_code == 202
        deadline = time.monotonic() + 10
        while not handled_counts(sqlite_db.engine) and time.monotonic() < deadline:
            time.sleep(0.02)  # woken by the hook, not by the 30 s poll
        assert handled_counts(sqlite_db.engine) == {"svc-1": 1}
        metrics = client.get("/metrics").text
    assert 'foredeck_worker_events_total{result="processed"} 1.0' in metrics
    assert 'foredeck_hook_deliveries_total{event="push",status="202"} 1.0' in metrics


def test_module_entry_point_reports_bad_settings(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("hook: {sekret: x}\n")
    result = subprocess.run(
        [sys.executable, "-m", "foredeck.hook", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "sekret" in result.stderr
    config.write_text(f"database_url: sqlite:///{tmp_path / 'x.db'}\n")
    result = subprocess.run(
        [sys.executable, "-m", "foredeck.hook", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "no webhook secret configured" in result.stderr
