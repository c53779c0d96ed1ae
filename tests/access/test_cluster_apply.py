"""`foredeck access apply` against the Kubernetes API double: it creates exactly the rendered
objects, a second run changes nothing, and a dropped grant is taken away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foredeck.access.kube_render import render, select
from foredeck.cli import app
from foredeck.config.roles import load_roles
from tests.access.rbac_double import RbacDouble
from tests.access.sample import ROLES, write_roles

NAMESPACES = {"ci", "acme", "widget", "kube-system"}
# The double's cluster has no EKS: aws-auth is applied, access entries are tested with boto3.
NO_ENTRIES = ROLES.replace("region: us-east-1,", "region: us-east-1, access_entries: false,")


@pytest.fixture
def double() -> Iterator[RbacDouble]:
    d = RbacDouble(NAMESPACES)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def kubeconfig(double: RbacDouble, tmp_path: Path) -> Path:
    path = double.kubeconfig(tmp_path / "kubeconfig")
    # The roles file names the context `ci-prod`: the double's kubeconfig has it.
    path.write_text(path.read_text().replace('"double"', '"ci-prod"'))
    return path


def apply(roles: Path, config: Path, *args: str) -> tuple[int, str, str]:
    argv = ["access", "apply", str(roles), "--kubeconfig", str(config), *args]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def expected(roles: Path) -> dict[tuple[str, str, str], dict[str, object]]:
    loaded = load_roles(roles)
    objects = render(loaded, select(loaded, ["ci"])[0]).objects
    return {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects
    }


def test_apply_creates_exactly_the_rendered_objects_and_twice_changes_nothing(
    double: RbacDouble, tmp_path: Path
) -> None:
    roles, config = write_roles(tmp_path, NO_ENTRIES), kubeconfig(double, tmp_path)
    code, out, err = apply(roles, config, "--cluster", "ci")
    assert code == 0, err
    assert double.stored() == expected(roles)
    assert "ci: applied RoleBinding widget/foredeck:viewer" in out.splitlines()
    assert "ci: applied ConfigMap kube-system/aws-auth" in out.splitlines()
    versions = double.versions()
    writes = double.count("PATCH", "")

    code, _, err = apply(roles, config, "--cluster", "ci")
    assert code == 0, err
    assert double.stored() == expected(roles)
    assert double.versions() == versions  # server-side apply of the same objects: no change
    assert double.count("PATCH", "") == 2 * writes  # every object was applied again


def test_a_dropped_grant_is_taken_away(double: RbacDouble, tmp_path: Path) -> None:
    roles, config = write_roles(tmp_path, NO_ENTRIES), kubeconfig(double, tmp_path)
    assert apply(roles, config, "--cluster", "ci")[0] == 0
    key = ("RoleBinding", "widget", "foredeck:viewer")
    assert double.stored()[key]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "vera"}
    ]
    write_roles(tmp_path, NO_ENTRIES.replace("users: [vera, Alice]", "users: [Alice]"))
    assert apply(roles, config, "--cluster", "ci")[0] == 0
    assert double.stored()[key]["subjects"] == []
    assert double.stored() == expected(roles)


def test_prune_deletes_the_bindings_of_a_dropped_namespace_only(
    double: RbacDouble, tmp_path: Path
) -> None:
    roles, config = write_roles(tmp_path, NO_ENTRIES), kubeconfig(double, tmp_path)
    assert apply(roles, config, "--cluster", "ci")[0] == 0
    foreign = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "someone-elses", "namespace": "widget"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [],
    }
    double.put(("rbac.authorization.k8s.io", "v1", "rolebindings"), "widget", foreign)
    write_roles(tmp_path, NO_ENTRIES.replace("  - name: widget\n    repos: [acme/widget]\n", ""))
    # Without --prune the dropped namespace keeps its bindings.
    assert apply(roles, config, "--cluster", "ci")[0] == 0
    widget = {k for k in double.stored() if k[1] == "widget"}
    assert ("RoleBinding", "widget", "foredeck:viewer") in widget

    code, out, err = apply(roles, config, "--cluster", "ci", "--prune")
    assert code == 0, err
    assert sorted(line for line in out.splitlines() if "deleted" in line) == [
        f"ci: deleted RoleBinding widget/foredeck:{role}" for role in ("admin", "editor", "viewer")
    ]
    assert {k for k in double.stored() if k[1] == "widget"} == {
        ("RoleBinding", "widget", "someone-elses")
    }
    rest = {k: v for k, v in double.stored().items() if k[1] != "widget"}
    assert rest == expected(roles)


def test_a_missing_namespace_is_a_clear_error(double: RbacDouble, tmp_path: Path) -> None:
    double.namespaces.discard("widget")
    roles, config = write_roles(tmp_path, NO_ENTRIES), kubeconfig(double, tmp_path)
    code, _, err = apply(roles, config, "--cluster", "ci")
    assert code == 1
    assert (
        'cluster ci: RoleBinding widget/foredeck:viewer: 404 namespaces "widget" not found' in err
    )


def test_unknown_cluster_and_unreachable_context(double: RbacDouble, tmp_path: Path) -> None:
    roles, config = write_roles(tmp_path, NO_ENTRIES), kubeconfig(double, tmp_path)
    code, _, err = apply(roles, config, "--cluster", "prod")
    assert code == 1
    assert "unknown cluster 'prod'; the roles file has: ci, test" in err
    # The test cluster names no context: the kubeconfig's current one, `ci-prod` here.
    config.write_text(
        config.read_text().replace('"current-context": "ci-prod"', '"current-context": "gone"')
    )
    code, _, err = apply(roles, config, "--cluster", "test")
    assert code == 1
    assert "cluster test: kubeconfig:" in err
    assert double.stored() == {}


def test_clusters_without_a_context_are_applied_only_alone(
    double: RbacDouble, tmp_path: Path
) -> None:
    """Two clusters must never both land in the current context: `test` names none."""
    roles, config = write_roles(tmp_path, NO_ENTRIES), kubeconfig(double, tmp_path)
    code, _, err = apply(roles, config)
    assert code == 1
    assert "cluster test names no kubeconfig context: apply it alone (--cluster test" in err
    assert double.stored() == {}
    double.namespaces.add("tests")
    code, out, err = apply(roles, config, "--cluster", "test")
    assert code == 0, err
    assert "test: applied RoleBinding tests/foredeck:admin" in out.splitlines()


def test_the_double_refuses_what_the_api_server_would(double: RbacDouble, tmp_path: Path) -> None:
    """The double is a check, not a sink: an invalid binding is a 422 that apply reports."""
    from foredeck.access.kube_apply import AccessApplyError, apply_objects
    from foredeck.execute.kube.client import KubeTarget, api_client

    roles = write_roles(tmp_path, NO_ENTRIES)
    bad = next(o for o in expected(roles).values() if o["kind"] == "RoleBinding")
    bad["roleRef"] = {"kind": "ClusterRole"}
    client = api_client(KubeTarget(kubeconfig=str(kubeconfig(double, tmp_path)), context="ci-prod"))
    try:
        with pytest.raises(AccessApplyError, match=r"422 RoleBinding .* is invalid"):
            apply_objects(client, [bad])
    finally:
        client.close()
    assert double.stored() == {}
