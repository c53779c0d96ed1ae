"""`namespace`: a namespace per lease in an existing cluster, with a RoleBinding that gives
its service account a ClusterRole there and a ResourceQuota (the `kube` extra).

Namespaces are labelled `{prefix}/lease`, which is how `list_owned` finds them; deleting the
namespace deletes what is in it.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from foredeck.execute.kube.client import KubeTarget, api_client
from foredeck.leases.provider import ProviderError, check_lease_id
from foredeck.settings import NamespaceProvider


class Namespaces:
    kind = "namespace"

    def __init__(self, api: k8s.ApiClient, config: NamespaceProvider, prefix: str) -> None:
        self.config = config
        self.prefix = prefix
        self.core = k8s.CoreV1Api(api)
        self.rbac = k8s.RbacAuthorizationV1Api(api)

    @classmethod
    def from_settings(cls, config: NamespaceProvider, prefix: str) -> Namespaces:
        target = KubeTarget(kubeconfig=config.kubeconfig, context=config.context)
        return cls(api_client(target), config, prefix)

    def name_for(self, lease_id: str) -> str:
        return f"{self.prefix}-{check_lease_id(lease_id)}"

    def create(self, name: str, lease_id: str) -> dict[str, Any]:
        labels = {f"{self.prefix}/lease": check_lease_id(lease_id)}
        meta = k8s.V1ObjectMeta(name=name, labels=labels)
        account = self.config.service_account
        try:
            self.core.create_namespace(k8s.V1Namespace(metadata=meta))
            self.rbac.create_namespaced_role_binding(
                name,
                k8s.V1RoleBinding(
                    metadata=k8s.V1ObjectMeta(name=f"{self.prefix}-lease", labels=labels),
                    role_ref=k8s.V1RoleRef(
                        api_group="rbac.authorization.k8s.io",
                        kind="ClusterRole",
                        name=self.config.cluster_role,
                    ),
                    subjects=[
                        k8s.RbacV1Subject(kind="ServiceAccount", name=account, namespace=name)
                    ],
                ),
            )
            self.core.create_namespaced_resource_quota(
                name,
                k8s.V1ResourceQuota(
                    metadata=k8s.V1ObjectMeta(name=f"{self.prefix}-lease", labels=labels),
                    spec=k8s.V1ResourceQuotaSpec(hard=dict(self.config.quota)),
                ),
            )
        except ApiException as exc:
            raise ProviderError(f"namespace {name}: {exc.status} {exc.reason}") from exc
        return {"namespace": name, "service_account": account}

    def delete(self, name: str) -> None:
        try:
            self.core.delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise ProviderError(f"namespace {name}: {exc.status} {exc.reason}") from exc

    def list_owned(self) -> list[str]:
        found = self.core.list_namespace(label_selector=f"{self.prefix}/lease")
        return sorted(
            item.metadata.name for item in found.items if item.metadata and item.metadata.name
        )
