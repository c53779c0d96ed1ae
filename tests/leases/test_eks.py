"""The `eks` provider against moto's EKS: a tagged cluster and node group per lease, a
kubeconfig with a token, node groups deleted before the cluster, and the janitor's list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from foredeck.leases import LeaseService, store, sweep
from foredeck.leases.eks import EksClusters
from foredeck.leases.provider import ProviderError
from foredeck.settings import EksProvider, LeaseSettings
from tests.db.fixtures import Database

CONFIG = EksProvider(
    kind="eks",
    region="eu-west-1",
    role_arn="arn:aws:iam::123456789012:role/eks",
    node_role_arn="arn:aws:iam::123456789012:role/nodes",
    subnets=["subnet-1", "subnet-2"],
    version="1.29",
    poll_delay=1,
    create_timeout=10,
    delete_timeout=10,
)


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        yield boto3.session.Session(
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret-for-moto",
            region_name="eu-west-1",
        )


class Recording:
    """The EKS client, recording the order of deletions."""

    def __init__(self, eks: Any) -> None:
        self._eks = eks
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._eks, name)
        if name.startswith("delete_"):

            def record(**kwargs: Any) -> Any:
                self.calls.append(name)
                return attr(**kwargs)

            return record
        return attr


def test_create_tags_cluster_and_node_group_and_gives_a_kubeconfig(aws: Any) -> None:
    provider = EksClusters(CONFIG, "fdt", session=aws)
    lease_id = "a" * 32
    name = provider.name_for(lease_id)
    data = provider.create(name, lease_id)
    eks = aws.client("eks")
    cluster = eks.describe_cluster(name=name)["cluster"]
    assert cluster["tags"] == {"fdt/resource": name, "fdt/lease": lease_id}
    assert cluster["roleArn"] == CONFIG.role_arn and cluster["version"] == "1.29"
    group = eks.describe_nodegroup(clusterName=name, nodegroupName=name)["nodegroup"]
    assert group["tags"]["fdt/lease"] == lease_id
    assert group["scalingConfig"]["desiredSize"] == 2
    kubeconfig = yaml.safe_load(data["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == cluster["endpoint"]
    assert kubeconfig["users"][0]["user"]["token"].startswith("k8s-aws-v1.")
    assert provider.list_owned() == [name]


def test_delete_removes_node_groups_before_the_cluster(aws: Any) -> None:
    provider = EksClusters(CONFIG, "fdt", session=aws)
    name = provider.name_for("b" * 32)
    provider.create(name, "b" * 32)
    provider.eks = Recording(provider.eks)
    provider.delete(name)
    assert provider.eks.calls == ["delete_nodegroup", "delete_cluster"]
    assert aws.client("eks").list_clusters()["clusters"] == []
    provider.delete(name)  # already gone: no error


def test_list_owned_ignores_clusters_without_our_tags(aws: Any) -> None:
    aws.client("eks").create_cluster(
        name="someone-elses", roleArn=CONFIG.role_arn, resourcesVpcConfig={}
    )
    assert EksClusters(CONFIG, "fdt", session=aws).list_owned() == []


def test_a_waiter_that_times_out_is_a_provider_error(aws: Any) -> None:
    provider = EksClusters(CONFIG, "fdt", session=aws)
    with pytest.raises(ProviderError, match=r"ClusterActive failed.*timeout 10s"):
        provider._wait("cluster_active", "missing", 10, name="missing")


def test_leases_and_janitor_with_eks(db: Database, aws: Any) -> None:
    settings = LeaseSettings.model_validate(
        {"prefix": "fdt", "types": [{"name": "eks-cluster", "provider": CONFIG.model_dump()}]}
    )
    provider = EksClusters(CONFIG, "fdt", session=aws)
    service = LeaseService(db.engine, settings, providers={"eks-cluster": provider})
    lease = service.acquire("eks-cluster", "job-1", ttl=60)
    leaked = provider.name_for("c" * 32)
    provider.create(leaked, "c" * 32)  # made by a process that died before recording it
    actions = sweep(service)
    assert [(a.name, a.action) for a in actions] == [(leaked, "deleted")]
    assert provider.list_owned() == [lease.name]
    service.release(lease)
    assert service.maintain().deleted == [lease.name]
    assert provider.list_owned() == []
    assert [r.state for r in store.resources(db.engine)] == ["tombstone"]
