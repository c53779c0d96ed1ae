"""The secrets a job is censored of: foredeck's own, the `censor:` section's, the job's."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from foredeck.censor import Censor
from foredeck.controller import Controller
from foredeck.controller.running import Outcome
from foredeck.controller.secrets import SecretsError, job_censor, job_secrets, settings_secrets
from foredeck.leases import Lease
from foredeck.settings import Settings
from foredeck.types import Refs
from tests.controller.helpers import add_job, get_job, make_settings, run_all, spec_config
from tests.db.fixtures import Database


def _settings(tmp_path: Path, **extra: object) -> Settings:
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN KEY-----\nMIIEkeyline1abc\nkeyline2def\n-----END KEY-----\n")
    auth = tmp_path / "config.json"
    encoded = base64.b64encode(b"robot:registry-pass").decode()
    auth.write_text(json.dumps({"auths": {"reg.example": {"auth": encoded}}}))
    mounted = tmp_path / "mounted"
    (mounted / "..data").mkdir(parents=True)
    (mounted / "..data" / "ignored").write_text("not-read-twice")
    (mounted / "aws-key").write_text("aws-secret-from-dir\n")
    extra_file = tmp_path / "extra"
    extra_file.write_text("extra-file-secret")
    return Settings.model_validate(
        {
            "database_url": "postgresql://fd:db-password-1@127.0.0.1/fd",
            "hook": {
                "secrets": ["hook-secret-1"],
                "org_secrets": {"o": ["org-secret-1"]},
                "repo_secrets": {"o/r": ["repo-secret-1"]},
            },
            "github": {"app_id": "12", "private_key_file": str(key)},
            "api": {"token": "api-token-1"},
            "images": {"auth_file": str(auth)},
            "leases": {
                "types": [
                    {
                        "name": "db",
                        "provider": {
                            "kind": "postgres-database",
                            "url": "postgresql://admin:lease-admin-pw@127.0.0.1/postgres",
                        },
                    }
                ]
            },
            "censor": {
                "values": ["configured-value"],
                "env": ["MY_TOKEN", "UNSET_ONE"],
                "files": [str(mounted), str(extra_file)],
            },
            **extra,
        }
    )


def test_settings_secrets_are_collected(tmp_path: Path) -> None:
    env = {"MY_TOKEN": "env-token-1", "GITHUB_TOKEN": "gh-env-token", "HOME": "/root"}
    found = settings_secrets(_settings(tmp_path), env)
    expected = {
        "hook-secret-1",
        "org-secret-1",
        "repo-secret-1",
        "api-token-1",
        "configured-value",
        "db-password-1",
        "lease-admin-pw",
        "env-token-1",
        "gh-env-token",
        "registry-pass",
        base64.b64encode(b"robot:registry-pass").decode(),
        "aws-secret-from-dir\n",
        "extra-file-secret",
    }
    assert expected <= set(found)
    assert "/root" not in found and "not-read-twice" not in found
    assert any("MIIEkeyline1abc" in value for value in found)


def test_a_github_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("ghp_fromfile\n")
    settings = Settings.model_validate({"github": {"token_file": str(token)}})
    assert "ghp_fromfile\n" in settings_secrets(settings, {})


def test_the_metrics_token_and_the_logins_client_secrets(tmp_path: Path) -> None:
    (tmp_path / "metrics").write_text("metrics-token-from-file")
    (tmp_path / "oidc").write_text("oidc-client-secret-1\n")
    login = {"client_id": "foredeck"}
    settings = Settings.model_validate(
        {
            "metrics": {"token_file": str(tmp_path / "metrics")},
            "api": {
                "oidc": {
                    **login,
                    "issuer": "https://sso.example",
                    "client_secret_file": str(tmp_path / "oidc"),
                },
                "github_login": {**login, "client_secret": "github-client-secret-1"},
            },
        }
    )
    found = settings_secrets(settings, {})
    assert {"metrics-token-from-file", "oidc-client-secret-1\n", "github-client-secret-1"} <= set(
        found
    )
    inline = Settings.model_validate({"metrics": {"token": "metrics-token-inline"}})
    assert "metrics-token-inline" in settings_secrets(inline, {})


def test_a_missing_secret_file_is_an_error_naming_it(tmp_path: Path) -> None:
    settings = Settings.model_validate({"censor": {"files": [str(tmp_path / "gone")]}})
    with pytest.raises(SecretsError, match="gone"):
        job_censor(settings)


def test_job_secrets_from_leases_and_clone_urls() -> None:
    now = datetime.now(UTC)
    lease = Lease(
        "id", "db", "n", "o", now, now, {"url": "postgresql://u:lease-pw-9@h/d", "host": "h"}
    )
    refs = Refs(
        org="o", repo="r", base_ref="main", clone_uri="https://x-access:ghs_clone0123@h/o/r"
    )
    assert set(job_secrets([lease], [refs])) == {"lease-pw-9", "ghs_clone0123", "x-access"}
    censor = job_censor(Settings(), [lease], [refs])
    assert censor.text("psql postgresql://u:lease-pw-9@h/d") == "psql postgresql://u:CENSORED@h/d"


async def test_a_job_whose_secrets_cannot_be_read_does_not_run(
    db: Database, tmp_path: Path
) -> None:
    marker = tmp_path / "host" / "ran"
    job_id = add_job(db, "blind", spec_config(f"touch {marker}"))
    base = make_settings(tmp_path, db)
    data = {**base.model_dump(mode="python"), "censor": {"files": [str(tmp_path / "nope")]}}
    await run_all(Controller(db.engine, Settings.model_validate(data)), deadline=60)
    job = get_job(db, job_id)
    assert job.state == "error"
    assert job.description is not None
    assert "secrets to censor" in job.description and "nope" in job.description
    assert not marker.exists()


def test_an_outcome_is_censored() -> None:
    outcome = Outcome("error", "executor said: token tkn-5566778899 refused")
    censored = outcome.censored(Censor(["tkn-5566778899"]))
    assert censored == Outcome("error", "executor said: token CENSORED refused")
