"""The `namespace` provider against the Kubernetes API double: a labelled namespace with a
RoleBinding and a ResourceQuota per lease, deleted with its contents, found by the janitor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from foredeck.leases import LeaseService, store, sweep
from foredeck.leases.namespace import Namespaces
from foredeck.leases.provider import ProviderError
from foredeck.settings import LeaseSettings, NamespaceProvider
from tests.db.fixtures import Database
from tests.leases.namespace_double import NamespaceDouble


@pytest.fixture
def double() -> Iterator[NamespaceDouble]:
    server = NamespaceDouble()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def provider(double: NamespaceDouble, tmp_path: Path) -> Namespaces:
    config = NamespaceProvider(
        kind="namespace",
        kubeconfig=str(double.kubeconfig(tmp_path / "kubeconfig")),
        cluster_role="admin",
        quota={"pods": "5"},
    )
    return Namespaces.from_settings(config, "fdt")


def test_create_makes_namespace_binding_and_quota(double: NamespaceDouble, tmp_path: Path) -> None:
    namespaces = provider(double, tmp_path)
    name = namespaces.name_for("d" * 32)
    data = namespaces.create(name, "d" * 32)
    assert data == {"namespace": name, "service_account": "default"}
    assert double.namespaces[name]["metadata"]["labels"] == {"fdt/lease": "d" * 32}
    (binding,) = double.contents[(name, "RoleBinding")].values()
    assert binding["roleRef"]["name"] == "admin"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "default", "namespace": name}]
    (quota,) = double.contents[(name, "ResourceQuota")].values()
    assert quota["spec"]["hard"] == {"pods": "5"}
    with pytest.raises(ProviderError, match="409"):
        namespaces.create(name, "d" * 32)
    namespaces.delete(name)
    assert double.namespaces == {} and double.contents == {}
    namespaces.delete(name)  # already gone: no error


def test_janitor_deletes_unowned_namespaces_only(
    db: Database, double: NamespaceDouble, tmp_path: Path
) -> None:
    namespaces = provider(double, tmp_path)
    settings = LeaseSettings.model_validate(
        {
            "prefix": "fdt",
            "types": [{"name": "ns", "provider": namespaces.config.model_dump()}],
        }
    )
    service = LeaseService(db.engine, settings, providers={"ns": namespaces})
    lease = service.acquire("ns", "job", ttl=60)
    leak = namespaces.name_for("e" * 32)
    namespaces.create(leak, "e" * 32)
    double.namespaces["kube-system"] = {"metadata": {"name": "kube-system"}}
    assert [(a.name, a.action) for a in sweep(service)] == [(leak, "deleted")]
    assert sorted(double.namespaces) == sorted(["kube-system", lease.name])
    service.release(lease)
    service.maintain()
    assert namespaces.list_owned() == []
    assert [r.state for r in store.resources(db.engine)] == ["tombstone"]
