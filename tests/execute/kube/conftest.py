"""Fixtures: a Kubernetes API double per test, a kubeconfig pointing at it, wait helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from foredeck.execute.kube.client import KubeTarget
from tests.execute.kube.kube_double import KubeDouble

NAMESPACE = "ci"
T = TypeVar("T")


@pytest.fixture
def kube_double() -> Iterator[KubeDouble]:
    double = KubeDouble()
    double.start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def kube_target(kube_double: KubeDouble, tmp_path: Path) -> KubeTarget:
    path = kube_double.kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    return KubeTarget(namespace=NAMESPACE, auth="kubeconfig", kubeconfig=str(path))


async def eventually(check: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
