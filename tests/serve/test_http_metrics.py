"""Every answer of the service app (API, dashboard, 404s, 500s) is counted in `/metrics` by route
template, method and status; `/hook` is not (it has metrics of its own)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from foredeck.serve.app import create_service_app
from tests.api.helpers import AUTH, presubmit, seed, settings_for
from tests.db.fixtures import Database

METRIC = "foredeck_http_responses_total"


def counted(registry: CollectorRegistry, route: str, method: str, status: int) -> float:
    labels = {"route": route, "method": method, "status": str(status)}
    return registry.get_sample_value(METRIC, labels) or 0.0


def hook_samples(registry: CollectorRegistry) -> list[object]:
    return [
        sample
        for metric in registry.collect()
        if metric.name == METRIC.removesuffix("_total")
        for sample in metric.samples
        if sample.labels.get("route") == "/hook"
    ]


def test_answers_are_counted_by_route_method_and_status(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (job_id,) = seed(sqlite_db, presubmit())
    registry = CollectorRegistry()
    app = create_service_app(settings_for(sqlite_db, tmp_path), sqlite_db.engine, registry=registry)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/jobs").status_code == 200
        assert client.get("/api/jobs").status_code == 200
        assert client.get(f"/api/jobs/{job_id}").status_code == 200
        assert client.get("/api/jobs/99999").status_code == 404
        assert client.get("/api/jobs/not-a-number").status_code == 422
        assert client.post(f"/api/jobs/{job_id}/abort").status_code == 401
        assert client.post(f"/api/jobs/{job_id}/abort", headers=AUTH).status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/view/99999").status_code == 404
        assert client.get("/static/dashboard.css").status_code == 200
        assert client.get("/no/such/page").status_code == 404
        assert client.get("/no/such/other/page").status_code == 404
        assert client.delete("/api/jobs").status_code == 405
        assert client.request("BREW", "/api/jobs").status_code == 405
        assert client.post("/hook", content=b"{}").status_code == 400

        def boom(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("the database went away")

        monkeypatch.setattr("foredeck.api.routes.list_jobs", boom)
        monkeypatch.setattr("foredeck.dashboard.queries.list_page", boom)
        assert client.get("/api/jobs").status_code == 500
        assert client.get("/").status_code == 500
        metrics = client.get("/metrics", headers=AUTH).text  # the bootstrap token

    assert counted(registry, "/api/jobs", "GET", 200) == 2
    assert counted(registry, "/api/jobs/{job_id}", "GET", 200) == 1
    assert counted(registry, "/api/jobs/{job_id}", "GET", 404) == 1
    assert counted(registry, "/api/jobs/{job_id}", "GET", 422) == 1
    assert counted(registry, "/api/jobs/{job_id}/abort", "POST", 401) == 1
    assert counted(registry, "/api/jobs/{job_id}/abort", "POST", 200) == 1
    assert counted(registry, "/", "GET", 200) == 1
    assert counted(registry, "/view/{job_id}", "GET", 404) == 1
    assert counted(registry, "/static/{name}", "GET", 200) == 1
    # Unknown paths share one label, so that scanners cannot grow the metric without bound.
    assert counted(registry, "unmatched", "GET", 404) == 2
    assert counted(registry, "/api/jobs", "DELETE", 405) == 1
    assert counted(registry, "/api/jobs", "other", 405) == 1
    # Unexpected exceptions, answered 500 by the server, are counted too.
    assert counted(registry, "/api/jobs", "GET", 500) == 1
    assert counted(registry, "/", "GET", 500) == 1
    assert hook_samples(registry) == []
    assert f'{METRIC}{{method="GET",route="/api/jobs",status="200"}} 2.0' in metrics
    # The hook keeps counting its own deliveries.
    hook = {"event": "none", "status": "400"}
    assert registry.get_sample_value("foredeck_hook_deliveries_total", hook) == 1
