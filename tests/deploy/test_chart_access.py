"""The chart's access settings (docs/deploy.md#access): the bootstrap admin token off by
default, the roles file from values or an existing ConfigMap, the logins' client secrets and the
metrics token mounted from existing Secrets (never in values), and each pod's settings loading
with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from foredeck.config.roles import load_roles
from foredeck.settings import Settings, load_settings
from tests.deploy.chart import objects, render, validate
from tests.deploy.gotemplate import TemplateError
from tests.deploy.test_chart import SECRETS, by_kind, container, pod_environment

ROLES = {
    "anonymous": {"*": "read", "acme-internal": "none"},
    "grants": [
        {"role": "admin", "repos": ["*"], "users": ["alice"]},
        {"role": "editor", "repos": ["acme/*"], "teams": ["acme/ci-maintainers"]},
    ],
}
LOGINS = {
    "publicUrl": "https://ci.example.org",
    "oidc": {"issuer": "https://sso.example.org/realms/ci", "clientId": "foredeck"},
    "githubLogin": {"clientId": "Iv1.0123456789abcdef", "secretName": "github-oauth"},
}


def rendered(values: dict[str, Any]) -> list[dict[str, Any]]:
    objs = objects(render(values))
    for obj in objs:
        validate(obj)
    return objs


def pod_settings(objs: list[dict[str, Any]], role: str, tmp_path: Path) -> Settings:
    config = by_kind(objs, "ConfigMap")["foredeck-config"]["data"]["settings.yaml"]
    path = tmp_path / "settings.yaml"
    path.write_text(config)
    return load_settings(path, pod_environment(by_kind(objs, "Deployment")[f"foredeck-{role}"]))


def mounts(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Mount path -> the volume mounted there."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container(deployment)["volumeMounts"]}


def secret_refs(objs: list[dict[str, Any]]) -> set[str]:
    """Every Secret key the pods read, as `secret/key`."""
    found = set()
    for deployment in by_kind(objs, "Deployment").values():
        for var in container(deployment).get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                found.add(f"{ref['name']}/{ref['key']}")
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "secret" in volume:
                for item in volume["secret"]["items"]:
                    found.add(f"{volume['secret']['secretName']}/{item['key']}")
    return found


def test_by_default_no_bootstrap_token_no_roles_and_metrics_not_public(tmp_path: Path) -> None:
    objs = rendered({})
    assert "foredeck/api-token" not in secret_refs(objs)
    assert "roles.yaml" not in by_kind(objs, "ConfigMap")["foredeck-config"]["data"]
    for role in ["hook", "controller", "worker"]:
        settings = pod_settings(objs, role, tmp_path)
        assert settings.api.token is None
        assert settings.api.roles_path is None
        assert settings.api.oidc is None and settings.api.github_login is None
        assert settings.metrics.public is False and settings.metrics.expected_token() is None


def test_the_bootstrap_token_is_read_from_the_secret_when_turned_on(tmp_path: Path) -> None:
    objs = rendered({"access": {"bootstrapToken": True}})
    hook = container(by_kind(objs, "Deployment")["foredeck-hook"])
    (var,) = [v for v in hook["env"] if v["name"] == "FOREDECK_API__TOKEN"]
    # Not optional: a Secret without the key fails the pod instead of starting without it.
    assert var["valueFrom"]["secretKeyRef"] == {"name": "foredeck", "key": "api-token"}
    token = pod_settings(objs, "hook", tmp_path).api.token
    assert token is not None and token.get_secret_value() == SECRETS["api-token"]
    assert pod_settings(objs, "controller", tmp_path).api.token is None


def test_an_inline_roles_file_is_in_the_configmap_and_the_hook_reads_it(tmp_path: Path) -> None:
    objs = rendered({"access": {"roles": ROLES}})
    data = by_kind(objs, "ConfigMap")["foredeck-config"]["data"]
    assert yaml.safe_load(data["roles.yaml"]) == ROLES
    (tmp_path / "roles.yaml").write_text(data["roles.yaml"])
    assert [g.role for g in load_roles(tmp_path / "roles.yaml").grants] == ["admin", "editor"]

    hook = by_kind(objs, "Deployment")["foredeck-hook"]
    settings = pod_settings(objs, "hook", tmp_path)
    assert settings.api.roles_path == "/etc/foredeck/roles.yaml"
    # The whole directory is mounted (no subPath), so the kubelet updates the file in place
    # and the server's reload sees the change.
    config_mount = [m for m in container(hook)["volumeMounts"] if m["name"] == "config"]
    assert config_mount == [{"name": "config", "mountPath": "/etc/foredeck", "readOnly": True}]
    assert pod_settings(objs, "worker", tmp_path).api.roles_path is None


def test_a_roles_file_from_an_existing_configmap(tmp_path: Path) -> None:
    source = {"name": "ci-roles", "key": "roles.yaml"}
    objs = rendered({"access": {"roles": ROLES, "rolesConfigMap": source}})
    assert "roles.yaml" not in by_kind(objs, "ConfigMap")["foredeck-config"]["data"]
    path = pod_settings(objs, "hook", tmp_path).api.roles_path
    assert path == "/etc/foredeck-roles/roles.yaml"
    volume = mounts(by_kind(objs, "Deployment")["foredeck-hook"])["/etc/foredeck-roles"]
    assert volume["configMap"] == {
        "name": "ci-roles",
        "items": [{"key": "roles.yaml", "path": "roles.yaml"}],
    }
    with pytest.raises(TemplateError, match=r"rolesConfigMap\.key"):
        render({"access": {"rolesConfigMap": {"name": "ci-roles"}}})


def test_logins_take_their_client_secrets_from_existing_secrets(tmp_path: Path) -> None:
    objs = rendered({"access": LOGINS})
    settings = pod_settings(objs, "hook", tmp_path)
    oidc, github = settings.api.oidc, settings.api.github_login
    assert oidc is not None and github is not None
    assert (oidc.issuer, oidc.client_id) == ("https://sso.example.org/realms/ci", "foredeck")
    assert github.client_id == "Iv1.0123456789abcdef"
    assert settings.api.public_url == "https://ci.example.org"

    by_path = mounts(by_kind(objs, "Deployment")["foredeck-hook"])
    assert oidc.client_secret is None and github.client_secret is None
    for secret_file, secret, key in [
        (oidc.client_secret_file, "foredeck", "oidc-client-secret"),
        (github.client_secret_file, "github-oauth", "github-oauth-client-secret"),
    ]:
        assert secret_file is not None
        directory, name = secret_file.rsplit("/", 1)
        assert by_path[directory]["secret"] == {
            "secretName": secret,
            "items": [{"key": key, "path": name}],
        }
    # Only the pod that serves the dashboard gets them.
    worker = pod_settings(objs, "worker", tmp_path)
    assert worker.api.oidc is None and worker.api.github_login is None
    assert set(mounts(by_kind(objs, "Deployment")["foredeck-worker"])) == {
        "/etc/foredeck",
        "/var/lib/foredeck",
        "/tmp",
        "/var/run/secrets/foredeck/github",
    }
    with pytest.raises(TemplateError, match="clientId"):
        render({"access": {"oidc": {"issuer": "https://sso.example.org"}}})


def test_the_metrics_token_is_a_mounted_file(tmp_path: Path) -> None:
    objs = rendered({"metrics": {"token": True}, "allInOne": True})
    settings = pod_settings(objs, "all", tmp_path)
    assert settings.metrics.public is False
    assert settings.metrics.token_file == "/var/run/secrets/foredeck/metrics/token"
    by_path = mounts(by_kind(objs, "Deployment")["foredeck-all"])
    volume = by_path["/var/run/secrets/foredeck/metrics"]
    assert volume["secret"] == {
        "secretName": "foredeck",
        "items": [{"key": "metrics-token", "path": "token"}],
    }
    public = rendered({"metrics": {"public": True}})
    assert pod_settings(public, "hook", tmp_path).metrics.public is True
