"""Applying rendered cluster access (`foredeck access apply`): RBAC objects and `aws-auth`
through the Kubernetes API by server-side apply (created when absent, replaced as rendered,
unchanged on a second run), and EKS access entries through boto3.

Access entries are made for the file's IAM principals (tagged `ENTRY_TAGS`) and their
namespaced access policies (View, Edit, Admin) set as rendered; other policies of those
principals (a cluster admin's `AmazonEKSClusterAdminPolicy`) and other principals' entries are
left alone. With `prune`, the entries foredeck made (by their tag) for principals the file no
longer names are deleted; an entry without the tag (made by hand, by eksctl, by EKS itself for
the cluster creator or the nodes) is never deleted, even when the file once named it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from foredeck.access.kube_render import MANAGED, POLICIES, AccessEntry

FIELD_MANAGER = "foredeck"
APPLY = "application/apply-patch+yaml"
MANAGED_POLICIES = frozenset(POLICIES.values())
ENTRY_TAGS = {"managed-by": "foredeck"}
"""The tags of the access entries foredeck creates: only those are ever pruned."""


class AccessApplyError(RuntimeError):
    """An object or entry could not be applied; says which and why."""


def apply_objects(api: k8s.ApiClient, objects: list[dict[str, Any]]) -> list[str]:
    """Server-side apply every object, in order; a line per object."""
    rbac, core = k8s.RbacAuthorizationV1Api(api), k8s.CoreV1Api(api)
    done = []
    for obj in objects:
        kind, meta = obj["kind"], obj["metadata"]
        name, ns = meta["name"], meta.get("namespace")
        options: dict[str, Any] = {
            "field_manager": FIELD_MANAGER,
            "force": True,
            "_content_type": APPLY,
        }
        where = f"{kind} {ns + '/' if ns else ''}{name}"
        try:
            if kind == "ClusterRole":
                rbac.patch_cluster_role(name, obj, **options)
            elif kind == "RoleBinding":
                rbac.patch_namespaced_role_binding(name, ns, obj, **options)
            elif kind == "ConfigMap":
                core.patch_namespaced_config_map(name, ns, obj, **options)
            else:
                raise AccessApplyError(f"{where}: not a kind foredeck applies")
        except ApiException as exc:
            raise AccessApplyError(f"{where}: {_reason(exc)}") from None
        done.append(f"applied {where}")
    return done


def prune_bindings(api: k8s.ApiClient, objects: list[dict[str, Any]]) -> list[str]:
    """Delete foredeck's RoleBindings (by their label) that `objects` no longer holds: those of
    a namespace dropped from the roles file. Others' bindings are never touched."""
    rbac = k8s.RbacAuthorizationV1Api(api)
    keep = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in objects
        if o["kind"] == "RoleBinding"
    }
    selector = ",".join(f"{k}={v}" for k, v in MANAGED.items())
    done = []
    try:
        found = rbac.list_role_binding_for_all_namespaces(label_selector=selector)
        for item in found.items:
            meta = item.metadata
            ns, name = (meta.namespace, meta.name) if meta is not None else (None, None)
            if ns and name and (ns, name) not in keep:
                rbac.delete_namespaced_role_binding(name, ns)
                done.append(f"deleted RoleBinding {ns}/{name}")
    except ApiException as exc:
        raise AccessApplyError(f"pruning RoleBindings: {_reason(exc)}") from None
    return done


def _reason(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return f"{exc.status} {message or exc.reason}"


# -- EKS access entries ----------------------------------------------------------------------


def check_cluster(eks: Any, cluster: str) -> None:
    """The EKS cluster exists (and the credentials may see it), or a clear error."""
    try:
        eks.describe_cluster(name=cluster)
    except eks.exceptions.ResourceNotFoundException:
        raise AccessApplyError(f"EKS cluster {cluster!r} not found") from None


def _pages(eks: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
    for page in eks.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])


def apply_access_entries(
    eks: Any, cluster: str, entries: list[AccessEntry], *, prune: bool = False
) -> list[str]:
    """Make `entries` so on `cluster` (an `eks` boto3 client); a line per change. `prune` also
    deletes foredeck's entries of principals not in `entries`."""
    check_cluster(eks, cluster)
    try:
        existing = set(_pages(eks, "list_access_entries", "accessEntries", clusterName=cluster))
        done = _apply_entries(eks, cluster, entries, existing)
        if prune:
            done += _prune_entries(eks, cluster, existing - {e.principal_arn for e in entries})
        return done
    except eks.exceptions.ClientError as exc:  # AccessDenied, a refused name, ...
        error = exc.response.get("Error", {})
        raise AccessApplyError(
            f"EKS cluster {cluster!r}: {exc.operation_name}: {error.get('Code')}: "
            f"{error.get('Message')}"
        ) from None


def _apply_entries(
    eks: Any, cluster: str, entries: list[AccessEntry], existing: set[str]
) -> list[str]:
    done: list[str] = []
    for entry in entries:
        arn = entry.principal_arn
        identity: dict[str, Any] = {"kubernetesGroups": entry.groups}
        if entry.username:
            identity["username"] = entry.username
        if arn not in existing:
            eks.create_access_entry(
                clusterName=cluster,
                principalArn=arn,
                type="STANDARD",
                tags=ENTRY_TAGS,
                **identity,
            )
            done.append(f"created access entry {arn}")
        else:
            current = eks.describe_access_entry(clusterName=cluster, principalArn=arn)
            now = current["accessEntry"]
            if sorted(now.get("kubernetesGroups", [])) != entry.groups or (
                entry.username and now.get("username") != entry.username
            ):
                eks.update_access_entry(clusterName=cluster, principalArn=arn, **identity)
                done.append(f"updated access entry {arn}")
        done.extend(_policies(eks, cluster, entry))
    return done


def _policies(eks: Any, cluster: str, entry: AccessEntry) -> list[str]:
    arn = entry.principal_arn
    associated = {
        p["policyArn"]: sorted(p.get("accessScope", {}).get("namespaces", []))
        for p in _pages(
            eks,
            "list_associated_access_policies",
            "associatedAccessPolicies",
            clusterName=cluster,
            principalArn=arn,
        )
    }
    done = []
    for policy, namespaces in entry.policies.items():
        if associated.get(policy) == sorted(namespaces):
            continue
        eks.associate_access_policy(
            clusterName=cluster,
            principalArn=arn,
            policyArn=policy,
            accessScope={"type": "namespace", "namespaces": namespaces},
        )
        done.append(f"associated {policy.rsplit('/', 1)[-1]} to {arn} in {', '.join(namespaces)}")
    for policy in sorted(set(associated) - set(entry.policies)):
        if policy in MANAGED_POLICIES:
            eks.disassociate_access_policy(clusterName=cluster, principalArn=arn, policyArn=policy)
            done.append(f"disassociated {policy.rsplit('/', 1)[-1]} from {arn}")
    return done


def _prune_entries(eks: Any, cluster: str, stale: set[str]) -> list[str]:
    """Delete those of `stale` that carry foredeck's tags (deleting an entry also removes its
    access policies); the others are someone else's."""
    done = []
    for arn in sorted(stale):
        found = eks.describe_access_entry(clusterName=cluster, principalArn=arn)["accessEntry"]
        tags = found.get("tags") or {}
        if all(tags.get(key) == value for key, value in ENTRY_TAGS.items()):
            eks.delete_access_entry(clusterName=cluster, principalArn=arn)
            done.append(f"deleted access entry {arn}")
    return done
