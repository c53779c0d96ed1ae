"""Who may read `/metrics` (docs/serve.md#metrics): not anyone by default, since the hook's
port is usually reachable from the internet; the metrics token (what Prometheus sends), the
bootstrap token, or, on the service app, a viewer of everything signed in with a token. The
probes stay public: the kubelet has no credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from foredeck.hook.server import create_app
from foredeck.serve.app import create_service_app
from foredeck.settings import MetricsSettings, Settings
from tests.api.access import access_settings, bearer, make_token
from tests.api.helpers import AUTH, settings_for
from tests.db.fixtures import Database
from tests.hook.helpers import make_settings

METRIC = "foredeck_http_responses_total"
PROBES = ["/livez", "/readyz", "/healthz"]


def with_metrics(settings: Settings, **metrics: object) -> Settings:
    return settings.model_copy(update={"metrics": MetricsSettings.model_validate(metrics)})


def test_the_service_app_serves_metrics_to_tokens_only(sqlite_db: Database, tmp_path: Path) -> None:
    settings = with_metrics(settings_for(sqlite_db, tmp_path), token="m-token")
    with TestClient(create_service_app(settings, sqlite_db.engine)) as client:
        for path in PROBES:
            assert client.get(path).status_code == 200, path
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert "Authorization: Bearer" in refused.json()["detail"]
        assert refused.headers["www-authenticate"] == "Bearer"
        assert METRIC not in refused.text
        assert client.get("/metrics", headers=bearer("wrong")).status_code == 401
        for headers in (bearer("m-token"), AUTH):
            answer = client.get("/metrics", headers=headers)
            assert answer.status_code == 200 and METRIC in answer.text
        # Without a roles file everyone views everything: any user's token will do.
        _, vera = make_token(client, "vera", "viewer")
        assert client.get("/metrics", headers=bearer(vera)).status_code == 200
        # The metrics token is good for nothing else.
        assert client.get("/api/tokens", headers=bearer("m-token")).status_code == 401


def test_with_roles_only_a_viewer_of_everything_may_read_them(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Public reads do not let anonymous callers in; a viewer of acme/* is not a viewer of `*`."""
    roles = '"anonymous": {"*": read}\ngrants:\n- {role: viewer, repos: ["*"], users: [olga]}\n'
    roles += "- {role: admin, repos: [acme/*], users: [vera]}\n"
    settings = access_settings(sqlite_db, tmp_path, roles)
    with TestClient(create_service_app(settings, sqlite_db.engine)) as client:
        assert client.get("/api/jobs").status_code == 200  # public reads
        assert client.get("/metrics").status_code == 401
        _, olga = make_token(client, "olga", "viewer")
        assert client.get("/metrics", headers=bearer(olga)).status_code == 200
        _, vera = make_token(client, "vera", "admin")
        answer = client.get("/metrics", headers=bearer(vera))
        assert answer.status_code == 200  # anonymous reads make everyone signed in a viewer
    closed = roles.replace("read", "none")
    with TestClient(
        create_service_app(access_settings(sqlite_db, tmp_path, closed), sqlite_db.engine)
    ) as client:
        _, vera = make_token(client, "vera", "admin")
        answer = client.get("/metrics", headers=bearer(vera))
        assert answer.status_code == 403
        assert "needs the viewer role on everything" in answer.json()["detail"]


def test_public_metrics_need_no_token(sqlite_db: Database, tmp_path: Path) -> None:
    settings = with_metrics(settings_for(sqlite_db, tmp_path), public=True)
    with TestClient(create_service_app(settings, sqlite_db.engine)) as client:
        assert client.get("/metrics").status_code == 200


def test_the_hook_app_reads_the_token_file_at_each_scrape(
    sqlite_db: Database, tmp_path: Path
) -> None:
    token_file = tmp_path / "metrics-token"
    token_file.write_text("first\n")
    settings = with_metrics(make_settings(sqlite_db), token_file=str(token_file))
    with TestClient(create_app(settings, sqlite_db.engine)) as client:
        for path in PROBES:
            assert client.get(path).status_code == 200, path
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer("first")).status_code == 200
        token_file.write_text("second\n")  # the Secret was rotated
        assert client.get("/metrics", headers=bearer("first")).status_code == 401
        assert client.get("/metrics", headers=bearer("second")).status_code == 200
        token_file.unlink()
        assert client.get("/metrics", headers=bearer("second")).status_code == 401
    api_token = settings.model_copy(
        update={"api": settings.api.model_copy(update={"token": SecretStr("boot")})}
    )
    with TestClient(create_app(api_token, sqlite_db.engine)) as client:
        assert client.get("/metrics", headers=bearer("boot")).status_code == 200


def test_metrics_settings_take_one_token() -> None:
    with pytest.raises(ValidationError, match="not both"):
        MetricsSettings.model_validate({"token": "a", "token_file": "/b"})
