"""`eks`: an EKS cluster with one managed node group per lease, through boto3 (the `eks` extra).

Both are tagged `{prefix}/lease` and `{prefix}/resource`, which is how `list_owned` finds them.
Creation and deletion wait with boto3's waiters, bounded by the settings' timeouts; node
groups are deleted before their cluster (EKS refuses to delete a cluster that has some). The
holder gets a kubeconfig with an EKS token (`execute.kube.client.eks_token`, 15 minutes).
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from foredeck.execute.kube.client import eks_token
from foredeck.extras import require
from foredeck.leases.provider import ProviderError, check_lease_id
from foredeck.settings import EksProvider

WHAT = "the eks lease provider"


class EksClusters:
    kind = "eks"

    def __init__(self, config: EksProvider, prefix: str, session: Any = None) -> None:
        self.config = config
        self.prefix = prefix
        if session is None:
            boto3 = require("eks", "boto3", WHAT)
            session = boto3.session.Session(
                region_name=config.region, profile_name=config.aws_profile
            )
        self.session = session
        self.eks = session.client("eks")

    def name_for(self, lease_id: str) -> str:
        return f"{self.prefix}-{check_lease_id(lease_id)}"

    def _tags(self, name: str, lease_id: str) -> dict[str, str]:
        return {f"{self.prefix}/resource": name, f"{self.prefix}/lease": lease_id}

    def _waiter_config(self, timeout: float) -> dict[str, int]:
        delay = self.config.poll_delay
        return {"Delay": max(1, int(delay)), "MaxAttempts": max(1, math.ceil(timeout / delay))}

    def create(self, name: str, lease_id: str) -> dict[str, Any]:
        c = self.config
        tags = self._tags(name, lease_id)
        args: dict[str, Any] = {
            "name": name,
            "roleArn": c.role_arn,
            "resourcesVpcConfig": {"subnetIds": c.subnets},
            "tags": tags,
        }
        if c.version:
            args["version"] = c.version
        self._call("create cluster", name, self.eks.create_cluster, **args)
        self._wait("cluster_active", name, c.create_timeout, name=name)
        self._call(
            "create node group",
            name,
            self.eks.create_nodegroup,
            clusterName=name,
            nodegroupName=name,
            scalingConfig={"minSize": c.nodes, "maxSize": c.nodes, "desiredSize": c.nodes},
            subnets=c.subnets,
            instanceTypes=c.instance_types,
            nodeRole=c.node_role_arn,
            tags=tags,
        )
        self._wait("nodegroup_active", name, c.create_timeout, clusterName=name, nodegroupName=name)
        info = self.eks.describe_cluster(name=name)["cluster"]
        return {
            "cluster": name,
            "region": self.session.region_name,
            "endpoint": info.get("endpoint"),
            "kubeconfig": self.kubeconfig(name, info),
        }

    def kubeconfig(self, name: str, info: dict[str, Any]) -> str:
        """A kubeconfig for the cluster with a bearer token (valid 15 minutes)."""
        token = eks_token(name, session=self.session, region=self.session.region_name)
        ca = (info.get("certificateAuthority") or {}).get("data", "")
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {"server": info.get("endpoint"), "certificate-authority-data": ca},
                }
            ],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        }
        return yaml.safe_dump(document, sort_keys=False)

    def delete(self, name: str) -> None:
        timeout = self.config.delete_timeout
        try:
            self.eks.describe_cluster(name=name)  # moto's list_nodegroups fails on none
            groups = self.eks.list_nodegroups(clusterName=name).get("nodegroups", [])
        except self.eks.exceptions.ResourceNotFoundException:
            return
        for group in groups:
            try:
                self.eks.delete_nodegroup(clusterName=name, nodegroupName=group)
            except self.eks.exceptions.ResourceNotFoundException:
                continue
        for group in groups:
            self._wait("nodegroup_deleted", name, timeout, clusterName=name, nodegroupName=group)
        try:
            self.eks.delete_cluster(name=name)
        except self.eks.exceptions.ResourceNotFoundException:
            return
        self._wait("cluster_deleted", name, timeout, name=name)

    def list_owned(self) -> list[str]:
        owned = []
        for page in self.eks.get_paginator("list_clusters").paginate():
            for name in page.get("clusters", []):
                try:
                    tags = self.eks.describe_cluster(name=name)["cluster"].get("tags") or {}
                except self.eks.exceptions.ResourceNotFoundException:
                    continue
                if f"{self.prefix}/lease" in tags:
                    owned.append(name)
        return sorted(owned)

    def _call(self, what: str, resource: str, method: Any, **kwargs: Any) -> None:
        try:
            method(**kwargs)
        except self.eks.exceptions.ClientError as exc:
            raise ProviderError(f"eks: {what} {resource}: {exc}") from exc

    def _wait(self, waiter: str, what: str, timeout: float, **kwargs: Any) -> None:
        botocore_exceptions = require("eks", "botocore.exceptions", WHAT)
        try:
            self.eks.get_waiter(waiter).wait(WaiterConfig=self._waiter_config(timeout), **kwargs)
        except botocore_exceptions.WaiterError as exc:
            raise ProviderError(f"eks: {what}: {exc} (timeout {timeout:g}s)") from exc
