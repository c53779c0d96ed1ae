"""The Kubernetes API double as a fixture: for the executor tests and the controller's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.execute.kube.kube_double import KubeDouble

NAMESPACE = "ci"


@pytest.fixture
def kube_double() -> Iterator[KubeDouble]:
    """A Kubernetes API double of the test's own, started and stopped around it."""
    double = KubeDouble()
    double.start()
    try:
        yield double
    finally:
        double.stop()
