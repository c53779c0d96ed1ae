"""`ObjectWatch` on its own: an HTTP 410 on the watch request, a non-transient error."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from foredeck.execute.kube.client import KubeTarget, api_client
from foredeck.execute.kube.watch import ObjectWatch
from tests.execute.kube.engines import WORKFLOWS
from tests.execute.kube.kube_double import KubeDouble
from tests.kit.kube import NAMESPACE


def start_watch(
    target: KubeTarget, name: str
) -> tuple[ObjectWatch, list[dict[str, Any] | None], list[BaseException], threading.Event]:
    seen: list[dict[str, Any] | None] = []
    errors: list[BaseException] = []
    changed = threading.Event()

    def deliver(obj: dict[str, Any] | None) -> None:
        seen.append(obj)
        changed.set()

    def fail(exc: BaseException) -> None:
        errors.append(exc)
        changed.set()

    custom = k8s.CustomObjectsApi(api_client(target))
    watch = ObjectWatch(
        custom,
        group="argoproj.io",
        version="v1alpha1",
        plural="workflows",
        namespace=NAMESPACE,
        name=name,
        deliver=deliver,
        fail=fail,
        backoff=0.05,
    )
    watch.start()
    return watch, seen, errors, changed


def wait_for(changed: threading.Event, check: Any) -> None:
    for _ in range(500):
        if check():
            return
        changed.wait(0.02)
        changed.clear()
    raise AssertionError("timed out")


def test_http_410_on_the_watch_request_rereads(
    kube_double: KubeDouble, kube_target: KubeTarget
) -> None:
    obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}}
    kube_double.put(WORKFLOWS, NAMESPACE, obj)
    kube_double.gone_http = 1
    watch, seen, errors, changed = start_watch(kube_target, "w")
    try:
        wait_for(changed, lambda: watch.stats.gone == 1 and kube_double.watches_open == 1)
        kube_double.update(WORKFLOWS, NAMESPACE, "w", lambda o: o.update(status={"phase": "X"}))
        wait_for(changed, lambda: any(o and o.get("status") for o in seen))
    finally:
        watch.stop()
    assert errors == []
    assert watch.stats.relists == 2  # the first read, and the one after 410
    assert seen[0] == seen[1] and seen[-1]["status"] == {"phase": "X"}  # type: ignore[index]


def test_forbidden_watch_fails_without_retrying(kube_double: KubeDouble, tmp_path: Path) -> None:
    config = kube_double.kubeconfig(tmp_path / "kc", token="nope")
    watch, seen, errors, changed = start_watch(KubeTarget(kubeconfig=str(config)), "w")
    wait_for(changed, lambda: errors)
    watch.stop()
    assert seen == [] and getattr(errors[0], "status", None) == 401
    assert watch.stats.relists == 1
