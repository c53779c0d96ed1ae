"""`foredeck access render`: RBAC, `aws-auth` and EKS access entries from the roles file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from foredeck.access.kube_render import (
    AccessRenderError,
    Rendered,
    dump,
    render,
    select,
)
from foredeck.cli import app
from foredeck.config.roles import RolesError, load_roles
from tests.access.kube_models import problems
from tests.access.sample import ALICE_ARN, NODE_ARN, ROLES, TEAM_ARN, write_roles

POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKS"


def rendered(tmp_path: Path, text: str = ROLES, cluster: str = "ci") -> Rendered:
    roles = load_roles(write_roles(tmp_path, text))
    return render(roles, select(roles, [cluster])[0])


def binding(done: Rendered, namespace: str, role: str) -> list[tuple[str, str]]:
    for obj in done.objects:
        meta = obj["metadata"]
        if obj["kind"] == "RoleBinding" and (meta["namespace"], meta["name"]) == (
            namespace,
            f"foredeck:{role}",
        ):
            assert obj["roleRef"] == {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"foredeck:{role}",
            }
            return [(s["kind"], s["name"]) for s in obj["subjects"]]
    raise AssertionError(f"no binding {role} in {namespace}")


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["access", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_every_rendered_object_validates(tmp_path: Path) -> None:
    for cluster in ("ci", "test"):
        done = rendered(tmp_path, cluster=cluster)
        assert done.objects
        for obj in done.objects:
            assert problems(obj) == [], obj
    kinds = [o["kind"] for o in rendered(tmp_path).objects]
    assert kinds == ["ClusterRole"] * 3 + ["RoleBinding"] * 9 + ["ConfigMap"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda o: o["roleRef"].pop("name"), "name"),
        (lambda o: o.update(subject=[]), "fields the model does not know"),
        (lambda o: o["subjects"].append({"kind": "User"}), "name"),
        (lambda o: o["metadata"].update(namespace="Not_A_Label"), "DNS label"),
        (lambda o: o["metadata"].update(name="a/b"), "path segment"),
    ],
)
def test_the_validation_catches_broken_objects(tmp_path: Path, change: Any, expected: str) -> None:
    obj = next(o for o in rendered(tmp_path).objects if o["kind"] == "RoleBinding")
    change(obj)
    assert any(expected in p for p in problems(obj))


def test_roles_reach_the_namespaces_their_repositories_cover(tmp_path: Path) -> None:
    done = rendered(tmp_path)
    alice = ("User", "alice@example.org")
    editors = [("Group", "ci-editors"), ("Group", "github:acme/ci-maintainers")]
    # alice is admin everywhere (and a viewer of acme/widget: the higher role only).
    for ns in ("ci", "acme", "widget"):
        assert binding(done, ns, "admin") == [alice]
    # `acme/*` editors reach acme's namespaces, not `ci` (of every repository).
    assert binding(done, "acme", "editor") == editors
    assert binding(done, "widget", "editor") == editors
    assert binding(done, "ci", "editor") == []
    # vera's `acme/widget` grant reaches only widget's namespace.
    assert binding(done, "widget", "viewer") == [("User", "vera")]
    assert binding(done, "acme", "viewer") == []
    # The test cluster's own prefix for OIDC groups.
    assert binding(rendered(tmp_path, cluster="test"), "tests", "editor") == [
        ("Group", "github:acme/ci-maintainers"),
        ("Group", "oidc:ci-editors"),
    ]


def test_each_cluster_role_holds_the_rules_below_it(tmp_path: Path) -> None:
    roles = {o["metadata"]["name"]: o["rules"] for o in rendered(tmp_path).objects[:3]}
    viewer, editor, admin = (
        roles["foredeck:viewer"],
        roles["foredeck:editor"],
        roles["foredeck:admin"],
    )
    assert {
        "apiGroups": ["argoproj.io"],
        "resources": ["workflows"],
        "verbs": ["get", "list", "watch"],
    } in viewer
    assert not any("delete" in r["verbs"] or "create" in r["verbs"] for r in viewer)
    assert editor[: len(viewer)] == viewer
    assert {
        "apiGroups": ["tekton.dev"],
        "resources": ["pipelineruns"],
        "verbs": ["create", "delete"],
    } in editor
    assert admin[-1] == {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}


def test_rules_of_a_role_can_be_replaced(tmp_path: Path) -> None:
    text = ROLES.replace(
        "  context: ci-prod\n",
        "  context: ci-prod\n  rules:\n    editor:\n"
        "    - {apiGroups: [batch], resources: [jobs], verbs: [create]}\n",
    )
    done = rendered(tmp_path, text)
    editor = done.objects[1]["rules"]
    assert editor[-1] == {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}
    assert not any(r["apiGroups"] == ["argoproj.io"] and "create" in r["verbs"] for r in editor)


def test_aws_auth_maps_the_iam_identities(tmp_path: Path) -> None:
    cm = rendered(tmp_path).objects[-1]
    assert cm["metadata"] == {
        "name": "aws-auth",
        "namespace": "kube-system",
        "labels": {"app.kubernetes.io/managed-by": "foredeck"},
    }
    assert yaml.safe_load(cm["data"]["mapRoles"]) == [
        {
            "rolearn": NODE_ARN,
            "username": "system:node:{{EC2PrivateDNSName}}",
            "groups": ["system:bootstrappers", "system:nodes"],
        },
        {
            "rolearn": TEAM_ARN,
            "username": "github:acme/ci-maintainers:{{SessionName}}",
            "groups": ["github:acme/ci-maintainers"],
        },
    ]
    assert yaml.safe_load(cm["data"]["mapUsers"]) == [
        {"userarn": ALICE_ARN, "username": "alice@example.org", "groups": []}
    ]


def test_access_entries_scope_policies_to_namespaces(tmp_path: Path) -> None:
    entries = {e.principal_arn: e for e in rendered(tmp_path).access_entries}
    assert set(entries) == {ALICE_ARN, TEAM_ARN}
    assert entries[ALICE_ARN].username == "alice@example.org"
    assert entries[ALICE_ARN].policies == {POLICY + "AdminPolicy": ["acme", "ci", "widget"]}
    assert entries[TEAM_ARN].username is None
    assert entries[TEAM_ARN].groups == ["github:acme/ci-maintainers"]
    assert entries[TEAM_ARN].policies == {POLICY + "EditPolicy": ["acme", "widget"]}
    # Off per cluster: no entries (aws-auth alone).
    off = ROLES.replace("region: us-east-1,", "region: us-east-1, access_entries: false,")
    assert rendered(tmp_path, off).access_entries == []


def test_output_is_deterministic(tmp_path: Path) -> None:
    first = dump(rendered(tmp_path).objects)
    # The same grants, namespaces and clusters in another order: the same bytes.
    data = yaml.safe_load(ROLES)
    data["grants"].reverse()
    data["clusters"].reverse()
    data["clusters"][1]["namespaces"].reverse()
    shuffled = yaml.safe_dump(data)
    assert shuffled != ROLES
    # A login written in two cases is one person, named in lower case whatever the order.
    assert "- vera" in shuffled
    assert dump(rendered(tmp_path, shuffled.replace("- vera", "- Vera")).objects) == first
    assert dump(rendered(tmp_path, shuffled).objects) == first


def test_render_out_writes_a_file_per_cluster(tmp_path: Path) -> None:
    path = write_roles(tmp_path)
    code, _, err = cli("render", str(path), "--out", str(tmp_path / "out"))
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["ci.access-entries.yaml", "ci.yaml", "test.yaml"]
    docs = list(yaml.safe_load_all((tmp_path / "out" / "ci.yaml").read_text()))
    assert docs == rendered(tmp_path).objects
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert cli("render", str(path), "--out", str(tmp_path / "out"))[0] == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


def test_an_unknown_cluster_is_named(tmp_path: Path) -> None:
    roles = load_roles(write_roles(tmp_path))
    with pytest.raises(
        AccessRenderError, match=r"unknown cluster 'prod'; the roles file has: ci, test"
    ):
        select(roles, ["prod"])
    code, out, err = cli("render", str(write_roles(tmp_path)), "--cluster", "prod")
    assert (code, out) == (1, "")
    assert "unknown cluster 'prod'" in err


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "{kube: alice@example.org,",
            "{kube: system:masters,",
            r"roles.yaml:\d+: subjects.users.alice.kube: .*`system:` names",
        ),
        (
            'aws: ["arn:aws:iam::111122223333:user/alice"]',
            'aws: ["arn:aws:iam::1:user/alice"]',
            "is not an IAM role or user ARN",
        ),
        ('group_prefix: "oidc:"', 'group_prefix: "system:"', "`system:` names"),
        (
            "acme/ci-maintainers: {aws:",
            "acme/ci-maintainers: {kube: 'EKS:admins', aws:",
            r"subjects.teams.acme/ci-maintainers.kube: .*'EKS:admins'",
        ),
        ("  - name: widget\n", "  - name: acme\n", "namespace 'acme' is listed twice"),
        ("  - name: widget\n", "  - name: Widget_NS\n", "is not a namespace name"),
        ("- name: test\n", "- name: ci\n", "cluster 'ci' is listed twice"),
    ],
)
def test_bad_subjects_and_clusters_are_refused_with_their_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in ROLES
    with pytest.raises(RolesError, match=message):
        load_roles(write_roles(tmp_path, ROLES.replace(old, new, 1)))
    code, _, err = cli("render", str(tmp_path / "roles.yaml"))
    assert code == 1
    assert "roles.yaml:" in err


def test_a_subject_no_grant_names_is_a_typo(tmp_path: Path) -> None:
    text = ROLES.replace("    alice: {kube:", "    alcie: {kube:")
    with pytest.raises(
        AccessRenderError, match=r"subjects.users: no grant names 'alcie' \(a typo\?\)"
    ):
        rendered(tmp_path, text)
    text = ROLES.replace("  teams:\n", "  groups:\n    ci-editor: {kube: editors}\n  teams:\n")
    with pytest.raises(AccessRenderError, match=r"subjects.groups: no grant names 'ci-editor'"):
        rendered(tmp_path, text)


def test_an_iam_arn_of_two_users_is_refused(tmp_path: Path) -> None:
    text = ROLES.replace("  teams:\n", f'    vera: {{aws: ["{ALICE_ARN}"]}}\n  teams:\n')
    with pytest.raises(AccessRenderError, match="is given to two users"):
        rendered(tmp_path, text)
