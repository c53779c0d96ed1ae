"""EKS access entries through boto3.

moto 5.2 implements EKS clusters but not access entries (its EKS routes end at clusters, node
groups, Fargate profiles and tags), so moto answers the cluster check here, and the
access-entry calls go through botocore's `Stubber`: each call's parameters are validated
against the EKS service model by botocore before the stub answers, and every stubbed answer
against the operation's output shape, so a wrong parameter or shape fails the test. A call
nothing stubbed (deleting an entry that is not foredeck's) fails the test too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from foredeck.access.kube_apply import AccessApplyError, apply_access_entries, check_cluster
from foredeck.access.kube_render import AccessEntry, render, select
from foredeck.config.roles import load_roles
from tests.access.sample import ALICE_ARN, ROLES, TEAM_ARN, write_roles

CLUSTER = "ci-prod"
POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKS"
TEAM = "github:acme/ci-maintainers"
BOB_ARN = "arn:aws:iam::111122223333:user/bob"  # foredeck made his entry; no longer in the file
CREATOR_ARN = "arn:aws:iam::111122223333:role/cluster-creator"  # EKS made it: no tags
TERRAFORM_ARN = "arn:aws:iam::111122223333:role/platform"  # another tool's tags


def entries(tmp_path: Path) -> list[AccessEntry]:
    roles = load_roles(write_roles(tmp_path))
    return render(roles, select(roles, ["ci"])[0]).access_entries


@pytest.fixture
def eks() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "eks", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def entry(arn: str, **identity: Any) -> dict[str, Any]:
    return {"accessEntry": {"clusterName": CLUSTER, "principalArn": arn, **identity}}


def listed(arn: str, policies: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    return {
        "clusterName": CLUSTER,
        "principalArn": arn,
        "associatedAccessPolicies": [
            {"policyArn": p, "accessScope": {"type": kind, "namespaces": ns}}
            for p, kind, ns in policies
        ],
    }


def associate(stub: Stubber, arn: str, policy: str, namespaces: list[str]) -> None:
    scope = {"type": "namespace", "namespaces": namespaces}
    stub.add_response(
        "associate_access_policy",
        {
            "clusterName": CLUSTER,
            "principalArn": arn,
            "associatedAccessPolicy": {"policyArn": policy, "accessScope": scope},
        },
        {"clusterName": CLUSTER, "principalArn": arn, "policyArn": policy, "accessScope": scope},
    )


def start(stub: Stubber, existing: list[str]) -> None:
    stub.add_response("describe_cluster", {"cluster": {"name": CLUSTER}}, {"name": CLUSTER})
    stub.add_response("list_access_entries", {"accessEntries": existing}, {"clusterName": CLUSTER})


def test_a_first_apply_creates_the_entries_and_their_policies(
    eks: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stub = eks
    start(stub, [])
    base = {"clusterName": CLUSTER, "type": "STANDARD", "tags": {"managed-by": "foredeck"}}
    stub.add_response(
        "create_access_entry",
        entry(TEAM_ARN, kubernetesGroups=[TEAM]),
        {**base, "principalArn": TEAM_ARN, "kubernetesGroups": [TEAM]},
    )
    stub.add_response(
        "list_associated_access_policies",
        listed(TEAM_ARN, []),
        {"clusterName": CLUSTER, "principalArn": TEAM_ARN},
    )
    associate(stub, TEAM_ARN, POLICY + "EditPolicy", ["acme", "widget"])
    stub.add_response(
        "create_access_entry",
        entry(ALICE_ARN, username="alice@example.org"),
        {
            **base,
            "principalArn": ALICE_ARN,
            "kubernetesGroups": [],
            "username": "alice@example.org",
        },
    )
    stub.add_response(
        "list_associated_access_policies",
        listed(ALICE_ARN, []),
        {"clusterName": CLUSTER, "principalArn": ALICE_ARN},
    )
    associate(stub, ALICE_ARN, POLICY + "AdminPolicy", ["acme", "ci", "widget"])

    done = apply_access_entries(client, CLUSTER, entries(tmp_path))
    assert done == [
        f"created access entry {TEAM_ARN}",
        f"associated AmazonEKSEditPolicy to {TEAM_ARN} in acme, widget",
        f"created access entry {ALICE_ARN}",
        f"associated AmazonEKSAdminPolicy to {ALICE_ARN} in acme, ci, widget",
    ]


def test_a_second_apply_changes_only_what_differs(eks: tuple[Any, Stubber], tmp_path: Path) -> None:
    """Entries as rendered are left alone; a stale namespaced policy of foredeck's is removed,
    a policy foredeck does not manage (a cluster admin's) is kept."""
    client, stub = eks
    start(stub, [ALICE_ARN, TEAM_ARN])
    who = {"clusterName": CLUSTER, "principalArn": TEAM_ARN}
    stub.add_response("describe_access_entry", entry(TEAM_ARN, kubernetesGroups=[TEAM]), who)
    stub.add_response(
        "list_associated_access_policies",
        listed(TEAM_ARN, [(POLICY + "EditPolicy", "namespace", ["widget", "acme"])]),
        who,
    )
    who = {"clusterName": CLUSTER, "principalArn": ALICE_ARN}
    stub.add_response("describe_access_entry", entry(ALICE_ARN, username="alice@example.org"), who)
    stub.add_response(
        "list_associated_access_policies",
        listed(
            ALICE_ARN,
            [
                (POLICY + "AdminPolicy", "namespace", ["acme", "ci", "widget"]),
                (POLICY + "ViewPolicy", "namespace", ["old"]),
                (POLICY + "ClusterAdminPolicy", "cluster", []),
            ],
        ),
        who,
    )
    stub.add_response("disassociate_access_policy", {}, {**who, "policyArn": POLICY + "ViewPolicy"})

    assert apply_access_entries(client, CLUSTER, entries(tmp_path)) == [
        f"disassociated AmazonEKSViewPolicy from {ALICE_ARN}"
    ]


def test_changed_groups_update_the_entry(eks: tuple[Any, Stubber], tmp_path: Path) -> None:
    client, stub = eks
    team_only = [e for e in entries(tmp_path) if e.principal_arn == TEAM_ARN]
    start(stub, [TEAM_ARN])
    who = {"clusterName": CLUSTER, "principalArn": TEAM_ARN}
    stub.add_response("describe_access_entry", entry(TEAM_ARN, kubernetesGroups=["old"]), who)
    stub.add_response(
        "update_access_entry",
        entry(TEAM_ARN, kubernetesGroups=[TEAM]),
        {**who, "kubernetesGroups": [TEAM]},
    )
    stub.add_response(
        "list_associated_access_policies",
        listed(TEAM_ARN, [(POLICY + "EditPolicy", "namespace", ["acme"])]),
        who,
    )
    associate(stub, TEAM_ARN, POLICY + "EditPolicy", ["acme", "widget"])
    assert apply_access_entries(client, CLUSTER, team_only) == [
        f"updated access entry {TEAM_ARN}",
        f"associated AmazonEKSEditPolicy to {TEAM_ARN} in acme, widget",
    ]


def test_an_aws_error_names_the_call_and_the_reason(
    eks: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stub = eks
    stub.add_response("describe_cluster", {"cluster": {"name": CLUSTER}}, {"name": CLUSTER})
    stub.add_client_error(
        "list_access_entries", "AccessDeniedException", "not authorized: eks:ListAccessEntries"
    )
    with pytest.raises(
        AccessApplyError,
        match="EKS cluster 'ci-prod': ListAccessEntries: AccessDeniedException: not authorized",
    ):
        apply_access_entries(client, CLUSTER, entries(tmp_path))


def test_an_unknown_eks_cluster_is_a_clear_error_with_moto() -> None:
    with mock_aws():
        client = boto3.client("eks", region_name="us-east-1")
        client.create_cluster(
            name=CLUSTER,
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": ["subnet-1"]},
        )
        check_cluster(client, CLUSTER)  # found: no error
        with pytest.raises(AccessApplyError, match="EKS cluster 'nope' not found"):
            check_cluster(client, "nope")
        with pytest.raises(AccessApplyError, match="EKS cluster 'nope' not found"):
            apply_access_entries(client, "nope", [])


def test_apply_sets_the_entries_of_an_eks_cluster(
    eks: tuple[Any, Stubber], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`foredeck access apply` on an EKS cluster: RBAC and aws-auth through the Kubernetes API,
    then the access entries, with the region and cluster of the file's `eks:`."""
    from foredeck.access import cli as access_cli

    client, stub = eks
    regions: list[str | None] = []

    def eks_client(region: str | None) -> Any:
        regions.append(region)
        return client

    monkeypatch.setattr(access_cli, "_eks", eks_client)
    start(stub, [ALICE_ARN, TEAM_ARN])
    as_rendered(stub)
    result = run_apply(tmp_path, write_roles(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert regions == ["us-east-1"]


def run_apply(tmp_path: Path, roles: Path, *more: str) -> Any:
    """`foredeck access apply ROLES --cluster ci` against the Kubernetes API double."""
    from typer.testing import CliRunner

    from foredeck.cli import app
    from tests.access.rbac_double import RbacDouble

    double = RbacDouble({"ci", "acme", "widget", "kube-system"})
    double.start()
    try:
        config = double.kubeconfig(tmp_path / "kubeconfig")
        config.write_text(config.read_text().replace('"double"', '"ci-prod"'))
        argv = ["access", "apply", str(roles), "--cluster", "ci", *more]
        result = CliRunner().invoke(app, [*argv, "--kubeconfig", str(config)])
        if result.exit_code == 0:
            assert ("ConfigMap", "kube-system", "aws-auth") in double.stored()
        return result
    finally:
        double.stop()


def as_rendered(stub: Stubber) -> None:
    """The file's two entries are on the cluster as rendered: nothing to change."""
    entries: list[tuple[str, dict[str, Any], str, list[str]]] = [
        (TEAM_ARN, {"kubernetesGroups": [TEAM]}, "EditPolicy", ["acme", "widget"]),
        (ALICE_ARN, {"username": "alice@example.org"}, "AdminPolicy", ["acme", "ci", "widget"]),
    ]
    for arn, identity, policy, namespaces in entries:
        who = {"clusterName": CLUSTER, "principalArn": arn}
        stub.add_response("describe_access_entry", entry(arn, **identity), who)
        stub.add_response(
            "list_associated_access_policies",
            listed(arn, [(POLICY + policy, "namespace", namespaces)]),
            who,
        )


def stale(stub: Stubber, arn: str, tags: dict[str, str] | None) -> None:
    """`arn` has an entry the file does not render; prune describes it to read its tags."""
    found = entry(arn, kubernetesGroups=["old"], **({"tags": tags} if tags is not None else {}))
    stub.add_response("describe_access_entry", found, {"clusterName": CLUSTER, "principalArn": arn})


def deleted(stub: Stubber, arn: str) -> None:
    stub.add_response("delete_access_entry", {}, {"clusterName": CLUSTER, "principalArn": arn})


def test_prune_deletes_only_the_entries_foredeck_made(
    eks: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stub = eks
    start(stub, [ALICE_ARN, BOB_ARN, CREATOR_ARN, TEAM_ARN, TERRAFORM_ARN])
    as_rendered(stub)
    stale(stub, CREATOR_ARN, None)
    stale(stub, TERRAFORM_ARN, {"managed-by": "terraform"})
    stale(stub, BOB_ARN, {"managed-by": "foredeck", "owner": "ci"})
    deleted(stub, BOB_ARN)
    done = apply_access_entries(client, CLUSTER, entries(tmp_path), prune=True)
    assert done == [f"deleted access entry {BOB_ARN}"]


def test_without_prune_entries_dropped_from_the_file_stay(
    eks: tuple[Any, Stubber], tmp_path: Path
) -> None:
    client, stub = eks
    start(stub, [ALICE_ARN, BOB_ARN, TEAM_ARN])
    as_rendered(stub)  # and no call about bob's entry: the stubber refuses any
    assert apply_access_entries(client, CLUSTER, entries(tmp_path)) == []


def test_apply_prune_of_a_file_naming_no_one_any_more(
    eks: tuple[Any, Stubber], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `subjects:` the file renders no entries for the cluster; `apply --prune` still
    deletes the ones foredeck made."""
    from foredeck.access import cli as access_cli

    client, stub = eks
    monkeypatch.setattr(access_cli, "_eks", lambda region: client)
    head, _, rest = ROLES.partition("subjects:\n")
    no_iam = head + "clusters:\n" + rest.split("clusters:\n", 1)[1]
    assert "subjects:" not in no_iam and "users:\n    alice" not in no_iam
    start(stub, [ALICE_ARN, CREATOR_ARN])
    stale(stub, CREATOR_ARN, None)
    stale(stub, ALICE_ARN, {"managed-by": "foredeck"})
    deleted(stub, ALICE_ARN)
    result = run_apply(tmp_path, write_roles(tmp_path, no_iam), "--prune")
    assert result.exit_code == 0, result.stderr
    assert f"ci: deleted access entry {ALICE_ARN}" in result.stdout.splitlines()
