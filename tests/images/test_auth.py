"""Registry kinds and push credentials: ECR against moto, Google with fake credentials."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from foredeck.images.auth import RegistryAuthError, auth_file, ecr_login, google_login
from foredeck.images.registry import ecr_region, insecure, registry_host, registry_kind
from foredeck.settings import ImageSettings

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("reference", "host"),
    [
        ("127.0.0.1:5000/team/app:1", "127.0.0.1:5000"),
        ("localhost/app", "localhost"),
        (f"{ECR_HOST}/app:v1", ECR_HOST),
        ("library/busybox:1.36", "docker.io"),
        ("busybox", "docker.io"),
    ],
)
def test_registry_host(reference: str, host: str) -> None:
    assert registry_host(reference) == host


def test_registry_kind_by_name_or_setting() -> None:
    settings = ImageSettings(registry_kinds={"registry.corp:5000": "ecr"})
    assert registry_kind(ECR_HOST, settings) == "ecr"
    assert ecr_region(ECR_HOST) == "eu-west-1"
    assert registry_kind("europe-west1-docker.pkg.dev", settings) == "google"
    assert registry_kind("gcr.io", settings) == "google"
    assert registry_kind("eu.gcr.io", settings) == "google"
    assert registry_kind("ghcr.io", settings) == "config"
    assert registry_kind("registry.corp:5000", settings) == "ecr"
    assert registry_kind("evil.gcr.io.example.com", settings) == "config"


def test_insecure_registries_match_patterns() -> None:
    settings = ImageSettings(insecure_registries=["127.0.0.1:*", "registry.lan:5000"])
    assert insecure("127.0.0.1:41234", settings)
    assert insecure("registry.lan:5000", settings)
    assert not insecure("registry.lan", settings)
    assert not insecure("ghcr.io", settings)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def test_ecr_login_decodes_the_token(aws: None) -> None:
    user, password = ecr_login(ECR_HOST)  # the client is made for the host's region
    assert user == "AWS"
    client = boto3.client("ecr", region_name="eu-west-1")
    token = client.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    assert base64.b64decode(token).decode() == f"AWS:{password}"


def test_ecr_failure_names_the_host_not_the_cause_text() -> None:
    class Broken:
        def get_authorization_token(self) -> dict[str, Any]:
            raise RuntimeError("secret-ish detail")

    with pytest.raises(RegistryAuthError) as info:
        ecr_login(ECR_HOST, Broken())
    assert str(info.value) == f"ECR token for {ECR_HOST}: RuntimeError"


class FakeCredentials:
    """What `google.auth.default` returns: a token after `refresh`."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.valid = False
        self.refreshed = 0

    def refresh(self, request: Any) -> None:
        self.refreshed += 1
        self.token = "ya29.fake-access-token"
        self.valid = True


def test_google_login_uses_application_default_credentials() -> None:
    credentials = FakeCredentials()
    asked: list[Any] = []

    def default(scopes: list[str]) -> tuple[FakeCredentials, str]:
        asked.append(scopes)
        return credentials, "project"

    assert google_login("europe-docker.pkg.dev", default) == (
        "oauth2accesstoken",
        "ya29.fake-access-token",
    )
    assert credentials.refreshed == 1
    assert asked == [["https://www.googleapis.com/auth/cloud-platform"]]


def test_token_auth_file_is_private_and_removed(aws: None) -> None:
    settings = ImageSettings()
    with auth_file(ECR_HOST, settings) as path:
        assert path is not None
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        auth = json.loads(path.read_text())["auths"][ECR_HOST]["auth"]
        assert base64.b64decode(auth).decode() == "AWS:123456789012-auth-token"
    assert not path.exists() and not path.parent.exists()


def test_config_registries_use_the_configured_auth_file(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"auths": {}}')
    with auth_file("ghcr.io", ImageSettings(auth_file=str(config))) as path:
        assert path == config
    with auth_file("ghcr.io", ImageSettings()) as path:
        assert path is None
    with (
        pytest.raises(RegistryAuthError, match=r"images.auth_file .* is not a file"),
        auth_file("ghcr.io", ImageSettings(auth_file=str(tmp_path / "nope.json"))),
    ):
        pass
