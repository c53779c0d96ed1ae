"""The Helm chart renders, every object validates against the official Kubernetes models, and the
RBAC is least privilege: only the controller may touch the API, in its CI namespace only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from foredeck.config.loader import load_config
from foredeck.settings import load_settings
from tests.deploy.chart import MANIFESTS, objects, render, strict_check, validate
from tests.deploy.gotemplate import TemplateError, render_chart

ROLES = ["controller", "hook", "periodics", "reporter", "sinker", "worker"]
CONTROLLER_RULES = [
    {
        "apiGroups": ["argoproj.io"],
        "resources": ["workflows"],
        "verbs": ["create", "get", "list", "watch", "patch", "delete"],
    },
    {
        "apiGroups": ["tekton.dev"],
        "resources": ["pipelineruns"],
        "verbs": ["create", "get", "list", "watch", "patch", "delete"],
    },
    {"apiGroups": ["tekton.dev"], "resources": ["taskruns"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "list", "delete"]},
]
SINKER_RULES = [
    {
        "apiGroups": ["argoproj.io"],
        "resources": ["workflows"],
        "verbs": ["list", "patch", "delete"],
    },
    {
        "apiGroups": ["tekton.dev"],
        "resources": ["pipelineruns"],
        "verbs": ["list", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "delete"]},
]
KUBE_ROLES = {"controller": CONTROLLER_RULES, "sinker": SINKER_RULES}
SECRETS = {
    "database-url": "postgresql+psycopg://ci:pw@db.example:5432/foredeck",
    "webhook-secret": "0123456789abcdef",
    "api-token": "api-token-value",
}


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def pod_environment(deployment: dict[str, Any]) -> dict[str, str]:
    """The environment the kubelet would give the container: secret refs resolved from
    SECRETS, `$(VAR)` expanded from earlier variables, optional refs to absent keys dropped."""
    env: dict[str, str] = {}
    for var in container(deployment).get("env", []):
        if "value" in var:
            env[var["name"]] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda m: env.get(m.group(1), m.group(0)),
                var["value"],
            )
            continue
        ref = var["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "foredeck"
        if ref["key"] in SECRETS:
            env[var["name"]] = SECRETS[ref["key"]]
        else:
            assert ref.get("optional") is True, f"{var['name']} needs {ref['key']}"
    return env


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return objects(render())


def test_every_object_validates_against_the_kubernetes_models(
    default_objects: list[dict[str, Any]],
) -> None:
    kinds = sorted(o["kind"] for o in default_objects)
    assert kinds == sorted(
        ["ConfigMap", "Service"]
        + ["Role", "RoleBinding"] * len(KUBE_ROLES)
        + ["Deployment"] * len(ROLES)
        + ["ServiceAccount"] * len(ROLES)
    )
    expected = {
        "ConfigMap": k8s.V1ConfigMap,
        "Service": k8s.V1Service,
        "Role": k8s.V1Role,
        "RoleBinding": k8s.V1RoleBinding,
        "Deployment": k8s.V1Deployment,
        "ServiceAccount": k8s.V1ServiceAccount,
    }
    for obj in default_objects:
        assert isinstance(validate(obj), expected[obj["kind"]])
        assert obj["metadata"]["namespace"] == "foredeck"


def test_the_validator_rejects_unknown_missing_and_mistyped_fields() -> None:
    good = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}}
    validate(good)
    with pytest.raises(ValueError, match="unknown field"):
        validate({**good, "automountToken": False})
    with pytest.raises(ValueError, match="unknown field"):
        validate({**good, "metadata": {"name": "x", "label": {}}})
    with pytest.raises(ValueError, match="expected bool"):
        validate({**good, "automountServiceAccountToken": "false"})
    with pytest.raises(ValueError, match="roleRef"):
        validate({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding"})
    with pytest.raises(ValueError, match="expected int"):
        strict_check({"containerPort": "8888"}, "V1ContainerPort", "port")


def test_rendered_manifests_in_the_repository_are_current() -> None:
    assert MANIFESTS.read_text() == render(), (
        "regenerate: .venv/bin/python -m tests.deploy.chart > deploy/manifests/foredeck.yaml"
    )


def test_only_the_controller_and_sinker_get_rbac_and_only_in_the_ci_namespace() -> None:
    objs = objects(render({"ciNamespace": "ci"}))
    assert not [o for o in objs if o["kind"] in {"ClusterRole", "ClusterRoleBinding"}]
    roles = by_kind(objs, "Role")
    bindings = by_kind(objs, "RoleBinding")
    names = [f"foredeck-{r}" for r in KUBE_ROLES]
    assert list(roles) == names and list(bindings) == names
    for component, rules in KUBE_ROLES.items():
        name = f"foredeck-{component}"
        assert roles[name]["metadata"]["namespace"] == "ci"
        assert roles[name]["rules"] == rules
        binding = bindings[name]
        assert binding["metadata"]["namespace"] == "ci"
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": name,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": name, "namespace": "foredeck"}
        ]

    accounts = by_kind(objs, "ServiceAccount")
    deployments = by_kind(objs, "Deployment")
    assert sorted(deployments) == [f"foredeck-{r}" for r in ROLES]
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == name
        talks_to_kube = name in {"foredeck-controller", "foredeck-sinker"}
        assert pod["automountServiceAccountToken"] is talks_to_kube
        assert accounts[name]["automountServiceAccountToken"] is talks_to_kube


def test_pods_run_unprivileged(default_objects: list[dict[str, Any]]) -> None:
    for deployment in by_kind(default_objects, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        ctx = container(deployment)["securityContext"]
        assert ctx == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        mounts = {m["mountPath"] for m in container(deployment)["volumeMounts"]}
        assert {"/tmp", "/var/lib/foredeck", "/etc/foredeck"} <= mounts


def test_roles_secrets_and_settings_load_in_each_pod(
    default_objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Each pod's settings file plus its environment load into foredeck's Settings with the
    values the chart means (PostgreSQL by URL, webhook secret only on the hook, ...)."""
    config = by_kind(default_objects, "ConfigMap")["foredeck-config"]
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text(config["data"]["settings.yaml"])
    jobs_file = tmp_path / "jobs.yaml"
    jobs_file.write_text(config["data"]["jobs.yaml"])
    assert load_config([jobs_file]).ok

    for name, deployment in by_kind(default_objects, "Deployment").items():
        role = name.removeprefix("foredeck-")
        args = container(deployment)["args"]
        assert args == ["serve", "--config", "/etc/foredeck/settings.yaml", "--role", role]
        env = pod_environment(deployment)
        settings = load_settings(settings_file, env)
        assert settings.database_url == SECRETS["database-url"]
        assert settings.artifacts.url == "s3://foredeck-artifacts/ci"
        assert settings.config_path == "/etc/foredeck/jobs.yaml"
        assert settings.controller.workdir.startswith("/var/lib/foredeck/")
        if role == "hook":
            assert [s.get_secret_value() for s in settings.hook.secrets] == [
                SECRETS["webhook-secret"]
            ]
            assert settings.hook.host == "0.0.0.0"
            probes = container(deployment)
            assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert probes["livenessProbe"]["httpGet"]["path"] == "/livez"
        else:
            assert settings.hook.secrets == []
            assert "ports" not in container(deployment)
        # The bootstrap admin token is off by default (tests/deploy/test_chart_access.py).
        assert settings.api.token is None and settings.api.roles_path is None
        has_github = role not in {"periodics", "sinker"}
        assert (settings.github.token_file is not None) is has_github


def test_the_service_reaches_the_hook(default_objects: list[dict[str, Any]]) -> None:
    service = by_kind(default_objects, "Service")["foredeck"]
    hook = by_kind(default_objects, "Deployment")["foredeck-hook"]
    labels = hook["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert hook["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port_names = [p["name"] for p in container(hook)["ports"]]
    assert service["spec"]["ports"][0]["targetPort"] in port_names


def test_all_in_one(tmp_path: Path) -> None:
    objs = objects(render({"allInOne": True, "ciNamespace": "ci"}))
    for obj in objs:
        validate(obj)
    deployments = by_kind(objs, "Deployment")
    assert list(deployments) == ["foredeck-all"]
    pod = deployments["foredeck-all"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "foredeck-controller"
    assert pod["automountServiceAccountToken"] is True
    assert list(by_kind(objs, "ServiceAccount")) == ["foredeck-controller"]
    assert by_kind(objs, "Role")["foredeck-controller"]["rules"] == CONTROLLER_RULES
    service = by_kind(objs, "Service")["foredeck"]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "all"
    env = pod_environment(deployments["foredeck-all"])
    assert env["FOREDECK_HOOK__SECRETS"] == '["0123456789abcdef"]'
    # Remote pods run foredeck's utilities from the image the chart deploys, whatever it is.
    assert env["FOREDECK_KUBE__UTILITY_IMAGE"] == pod["containers"][0]["image"]
    custom = objects(
        render({"allInOne": True, "image": {"repository": "r.example/fd", "tag": "7"}})
    )
    env = pod_environment(by_kind(custom, "Deployment")["foredeck-all"])
    utility = env["FOREDECK_KUBE__UTILITY_IMAGE"]
    assert load_settings(environ={"FOREDECK_KUBE__UTILITY_IMAGE": utility}).kube.utility_image == (
        "r.example/fd:7"
    )


def test_values_switch_roles_off_and_pass_through() -> None:
    objs = objects(
        render(
            {
                "components": {"controller": {"enabled": False}, "sinker": {"enabled": False}},
                "serviceAccount": {
                    "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/ci"}
                },
                "extraEnv": [{"name": "AWS_REGION", "value": "eu-west-1"}],
                "settings": {"artifacts": {"url": "gs://bucket/ci"}},
            }
        )
    )
    for obj in objs:
        validate(obj)
    assert sorted(by_kind(objs, "Deployment")) == [
        f"foredeck-{r}" for r in ["hook", "periodics", "reporter", "worker"]
    ]
    assert not by_kind(objs, "Role") and not by_kind(objs, "RoleBinding")
    for account in by_kind(objs, "ServiceAccount").values():
        assert account["metadata"]["annotations"] == {
            "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/ci"
        }
        assert account["automountServiceAccountToken"] is False
    for deployment in by_kind(objs, "Deployment").values():
        assert pod_environment(deployment)["AWS_REGION"] == "eu-west-1"
    config = yaml.safe_load(by_kind(objs, "ConfigMap")["foredeck-config"]["data"]["settings.yaml"])
    assert config["artifacts"]["url"] == "gs://bucket/ci"


def test_the_renderer_refuses_what_it_does_not_mirror() -> None:
    """The chart may only use what the test renderer implements the way Helm does."""
    context: dict[str, Any] = {"Values": {"a": {"b": "x"}}}
    assert (
        render_chart({"t": "{{- if .Values.a }}{{ .Values.a.b | quote }}{{ end }}"}, [], context)[
            "t"
        ]
        == '"x"'
    )
    for source in [
        "{{ .Values.a | lookup }}",
        "{{ if .Values.a }}",
        '{{ template "x" . }}',
        "{{ .Values.missing.b }}",
        "{{ .Values.a }}",
    ]:
        with pytest.raises(TemplateError):
            render_chart({"t": source}, [], context)


def test_references_between_objects_resolve(default_objects: list[dict[str, Any]]) -> None:
    accounts = by_kind(default_objects, "ServiceAccount")
    configmaps = by_kind(default_objects, "ConfigMap")
    for name, deployment in by_kind(default_objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] in accounts, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        for mount in container(deployment)["volumeMounts"]:
            assert mount["name"] in volumes, (name, mount)
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps
            if "secret" in volume:
                assert volume["secret"]["secretName"] == "foredeck"
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    for binding in by_kind(default_objects, "RoleBinding").values():
        assert binding["roleRef"]["name"] in by_kind(default_objects, "Role")
        for subject in binding["subjects"]:
            assert subject["name"] in accounts
