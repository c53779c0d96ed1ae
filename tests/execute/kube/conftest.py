"""Fixtures: a Kubernetes API double per test and a target (kubeconfig) pointing at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from foredeck.execute.kube.client import KubeTarget
from tests.execute.kube.kube_double import KubeDouble
from tests.kit.kube import NAMESPACE, kube_double

__all__ = ["kube_double"]


@pytest.fixture
def kube_target(kube_double: KubeDouble, tmp_path: Path) -> KubeTarget:
    path = kube_double.kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    return KubeTarget(namespace=NAMESPACE, auth="kubeconfig", kubeconfig=str(path))
