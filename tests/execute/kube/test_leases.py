"""A job's leases in its pods: the `argo` / `tekton` executor puts the lease files the controller
wrote into a Secret of the run, mounts it read-only at `/foredeck/leases` in every container
(sidecars too) with the container step's `FOREDECK_LEASE*` paths, and deletes it however the run
ends. Against the Kubernetes API double, which validates the manifests and the Secret."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from foredeck.controller.jobleases import JobLeases
from foredeck.execute.executor import ExecutorError, RunRequest
from foredeck.execute.kube.executor import KubeExecutor
from foredeck.execute.kube.leases import MAX_SECRET_BYTES
from foredeck.execute.runstate import RunResult
from foredeck.leases import Lease
from foredeck.pipeline.load import load_run
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.settings import KubeSettings
from tests.execute.kube.engines import PIPELINERUNS, WORKFLOWS, ArgoSim, TektonSim
from tests.execute.kube.kube_double import SECRETS, KubeDouble
from tests.kit.kube import NAMESPACE
from tests.kit.wait import eventually

DATA = Path(__file__).resolve().parents[2] / "data"
DSN = "postgresql://fdj_1:db-pass-4b1d@db.internal:5432/fdj_1"
KUBECONFIG = "apiVersion: v1\nusers:\n- name: x\n  user: {token: k8s-aws-v1.eks-token-77}\n"
SECRET_TEXT = ("db-pass-4b1d", "eks-token-77")
TASKS = ("served", "graph", "prepared")  # pod-fields.yaml: a sidecar, a containerSet, an init
PLURALS = {"argo": WORKFLOWS, "tekton": PIPELINERUNS}
EXPECTED_ENV = {
    "FOREDECK_LEASES": "/foredeck/leases",
    "FOREDECK_LEASE_EKS_CLUSTER_NAME": "foredeck-eks-1",
    "FOREDECK_LEASE_EKS_CLUSTER_DIR": "/foredeck/leases/eks-cluster-0",
    "FOREDECK_LEASE_EKS_CLUSTER_KUBECONFIG_FILE": "/foredeck/leases/eks-cluster-0/kubeconfig",
    "FOREDECK_LEASE_SLOT_0_NAME": "slot-a",
    "FOREDECK_LEASE_SLOT_1_NAME": "slot-b",
    "FOREDECK_LEASE_TEST_DB_NAME": "fdj_1",
    "FOREDECK_LEASE_TEST_DB_URL_FILE": "/foredeck/leases/test-db-0/url",
}


@pytest.fixture
def pod_fields() -> PipelineRunSpec:
    return load_run([DATA / "argo" / "pod-fields.yaml"])


def lease(type_: str, name: str, **user_data: str) -> Lease:
    now = datetime.now(UTC)
    return Lease(f"id-{name}", type_, name, "job/42", now, now, dict(user_data), 60.0)


def handed_over(workspace: Path) -> tuple[dict[str, str], Path]:
    """The lease files and variables exactly as the controller hands them to a job's steps."""
    held = JobLeases(None, 42, [], 60.0)
    held.held = [
        lease("eks-cluster", "foredeck-eks-1", kubeconfig=KUBECONFIG),
        lease("slot", "slot-a"),
        lease("slot", "slot-b"),
        lease("test-db", "fdj_1", url=DSN),
    ]
    workspace.mkdir()
    env, root = held.hand_over(workspace)
    assert root is not None
    return {"JOB_NAME": "with-leases", **env}, root


class Remote:
    """An executor run of `pod-fields.yaml` with the leases, for a test to drive."""

    def __init__(self, engine: Any, run: PipelineRunSpec, tmp_path: Path, double: KubeDouble):
        config = double.kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
        kube = KubeSettings(namespace=NAMESPACE, kubeconfig=str(config))
        self.env, self.lease_dir = handed_over(tmp_path / "ws")
        request = RunRequest(job_id=42, build_id="7", env=self.env, lease_dir=self.lease_dir)
        self.out = tmp_path / "out"
        self.cancel = asyncio.Event()
        self.double = double
        self.plural = PLURALS[engine]
        executor = KubeExecutor(engine, kube)
        self.task = asyncio.ensure_future(executor.run(run, self.out, request, self.cancel))

    async def created(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """The run's resource and its Secret, once both exist and the run is watched."""

        def found() -> tuple[str, dict[str, Any], dict[str, Any]] | None:
            if self.task.done():
                self.task.result()
            names = self.double.names(self.plural, NAMESPACE)
            secret = names and self.double.get(SECRETS, NAMESPACE, f"{names[0]}-leases")
            if not secret or not self.double.watches_open:
                return None
            obj = self.double.get(self.plural, NAMESPACE, names[0])
            return (names[0], obj, secret) if obj is not None else None

        return await eventually(found, "the run and its Secret to be created")

    async def result(self) -> RunResult:
        return await asyncio.wait_for(self.task, 30)

    def secret_gone(self, name: str) -> bool:
        return self.double.get(SECRETS, NAMESPACE, f"{name}-leases") is None

    def secret_deleted(self, name: str) -> bool:
        """Deleted by the runner itself (not only by the garbage collector with its owner)."""
        return self.secret_gone(name) and self.double.count("DELETE", f"/{name}-leases") == 1

    def nothing_leaked(self) -> None:
        for path in self.out.rglob("*"):
            if path.is_file():
                text = path.read_text(errors="replace")
                assert not [s for s in SECRET_TEXT if s in text], path


Start = Callable[[str], Remote]


@pytest.fixture
def start(kube_double: KubeDouble, pod_fields: PipelineRunSpec, tmp_path: Path) -> Start:
    """Start an executor run of `pod-fields.yaml` with leases on `argo` or `tekton`."""
    return lambda engine: Remote(engine, pod_fields, tmp_path, kube_double)


def containers(engine: str, doc: dict[str, Any]) -> list[tuple[dict[str, Any], list[Any]]]:
    """Every user container and sidecar of a manifest, with the mounts it gets."""
    found: list[tuple[dict[str, Any], list[Any]]] = []
    if engine == "argo":
        for template in doc["spec"]["templates"]:
            for key in ("container", "script"):
                if key in template:
                    body = template[key]
                    found.append((body, body["volumeMounts"]))
            if "containerSet" in template:
                cset = template["containerSet"]
                found += [(c, cset["volumeMounts"]) for c in cset["containers"]]
            for sidecar in template.get("sidecars") or []:  # mirrorVolumeMounts: main's
                main = template["container"]
                mounts = main["volumeMounts"] if sidecar.get("mirrorVolumeMounts") else []
                found.append((sidecar, [*(sidecar.get("volumeMounts") or []), *mounts]))
        return found
    for task in doc["spec"]["pipelineSpec"]["tasks"]:
        spec = task["taskSpec"]
        for body in [*spec["steps"], *(spec.get("sidecars") or [])]:
            found.append((body, body["volumeMounts"]))
    return found


def lease_volumes(engine: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    if engine == "argo":
        volumes = doc["spec"]["volumes"]
    else:
        tasks = doc["spec"]["pipelineSpec"]["tasks"]
        volumes = [v for t in tasks for v in t["taskSpec"]["volumes"]]
    return [v for v in volumes if v["name"] == "foredeck-leases"]


async def play_success(engine: str, double: KubeDouble, name: str) -> None:
    if engine == "argo":
        sim = ArgoSim(double, NAMESPACE, name)
        sim.running()
        for task in TASKS:
            sim.task(task, "Succeeded", logs=f"{task} ok\n")
        sim.finish("Succeeded")
        return
    tekton = TektonSim(double, NAMESPACE, name)
    tekton.running()
    for task in TASKS:
        tekton.task(task, "True", "Succeeded", logs={"main": f"{task} ok\n"})
    tekton.finish("True", "Succeeded")


async def play_failure(engine: str, double: KubeDouble, name: str) -> None:
    if engine == "argo":
        sim = ArgoSim(double, NAMESPACE, name)
        sim.running()
        sim.task("served", "Failed", logs="boom\n", code=1)
        sim.finish("Failed", "child 'served' failed")
        return
    tekton = TektonSim(double, NAMESPACE, name)
    tekton.running()
    tekton.task("served", "False", "Failed", logs={"main": "boom\n"})
    tekton.finish("False", "Failed", "Tasks Completed: 1 (Failed: 1)")


@pytest.mark.parametrize("engine", ["argo", "tekton"])
async def test_lease_files_reach_every_container_in_a_secret_deleted_at_the_end(
    engine: str, kube_double: KubeDouble, start: Start
) -> None:
    remote = start(engine)
    name, doc, secret = await remote.created()
    assert kube_double.rejected == []  # the manifest still validates against upstream's schema

    # One Secret of the run: the files under the controller's layout, keys without a `/`.
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {"eks-cluster-0.kubeconfig": KUBECONFIG, "test-db-0.url": DSN}
    meta = secret["metadata"]
    assert meta["labels"] == {"foredeck.dev/job-id": "42", "foredeck.dev/run": name}
    [owner] = meta["ownerReferences"]  # Kubernetes deletes it with the run, whoever deletes that
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        doc["kind"],
        name,
        doc["metadata"]["uid"],
    )
    # Mounted where a container step finds its leases, each file at its own path.
    volumes = lease_volumes(engine, doc)
    assert volumes, "a lease volume"
    for volume in volumes:
        assert volume["secret"] == {
            "secretName": f"{name}-leases",
            "defaultMode": 0o444,
            "items": [
                {"key": "eks-cluster-0.kubeconfig", "path": "eks-cluster-0/kubeconfig"},
                {"key": "test-db-0.url", "path": "test-db-0/url"},
            ],
        }
    bodies = containers(engine, doc)
    assert len(bodies) >= 7  # 3 tasks: one container, a containerSet of four, one; a sidecar
    for body, mounts in bodies:
        env = {e["name"]: e["value"] for e in body["env"]}
        assert {k: env.get(k) for k in EXPECTED_ENV} == EXPECTED_ENV, body["name"]
        assert env["FOREDECK_LEASE_SLOT_0_DIR"] == "/foredeck/leases/slot-0"
        leases = [m for m in mounts if m["name"] == "foredeck-leases"]
        assert leases == [
            {"name": "foredeck-leases", "mountPath": "/foredeck/leases", "readOnly": True}
        ], body["name"]
    assert str(remote.lease_dir) not in str(doc)  # no host path reaches a pod
    assert not [s for s in SECRET_TEXT if s in str(doc)]  # the data is in the Secret only

    await play_success(engine, kube_double, name)
    result = await remote.result()
    assert result.status == "Succeeded"
    assert remote.secret_deleted(name)
    assert kube_double.names(remote.plural, NAMESPACE) == []
    build_log = (remote.out / "build-log.txt").read_text()
    assert f"creating Secret {NAMESPACE}/{name}-leases (2 lease files)" in build_log
    remote.nothing_leaked()


@pytest.mark.parametrize("engine", ["argo", "tekton"])
async def test_the_secret_is_deleted_when_the_run_fails(
    engine: str, kube_double: KubeDouble, start: Start
) -> None:
    remote = start(engine)
    name, _, _ = await remote.created()
    await play_failure(engine, kube_double, name)
    result = await remote.result()
    assert result.status == "Failed"
    assert remote.secret_deleted(name)
    remote.nothing_leaked()


async def test_the_secret_is_deleted_when_the_run_is_aborted(
    kube_double: KubeDouble, start: Start
) -> None:
    remote = start("tekton")
    name, _, _ = await remote.created()
    remote.cancel.set()

    def cancelled() -> bool:
        pr = kube_double.get(PIPELINERUNS, NAMESPACE, name)
        return pr is not None and pr["spec"].get("status") == "Cancelled"

    await eventually(cancelled, "spec.status to be patched")
    assert not remote.secret_gone(name)  # finally tasks still run with their leases
    sim = TektonSim(kube_double, NAMESPACE, name)
    sim.running()
    sim.finish("False", "Cancelled", "PipelineRun was cancelled")
    result = await remote.result()
    assert result.status == "Cancelled"
    assert remote.secret_deleted(name)


async def test_the_secret_is_deleted_when_the_run_is_cancelled_at_once(
    kube_double: KubeDouble, start: Start
) -> None:
    """Cancelling the coroutine leaves the Workflow (stopping) for a sinker, never the leases."""
    remote = start("argo")
    name, _, _ = await remote.created()
    remote.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await remote.task
    wf = kube_double.get(WORKFLOWS, NAMESPACE, name)
    assert wf is not None and wf["spec"]["shutdown"] == "Terminate"
    assert remote.secret_deleted(name)


async def test_the_secret_goes_with_a_run_deleted_from_outside(
    kube_double: KubeDouble, start: Start
) -> None:
    remote = start("argo")
    name, _, _ = await remote.created()
    ArgoSim(kube_double, NAMESPACE, name).running()
    await kube_double_delete(kube_double, name)
    assert remote.secret_gone(name)  # the owner reference: Kubernetes' garbage collector
    result = await remote.result()
    assert result.status == "Failed"
    log = (remote.out / "build-log.txt").read_text()
    assert "deleting Secret" not in log  # already gone: a 404, not an error


async def kube_double_delete(double: KubeDouble, name: str) -> None:
    """DELETE the Workflow through the API, as `kubectl delete` would."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {double.token}"}) as client:
        path = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows/{name}"
        response = await client.delete(double.url + path)
    assert response.status_code == 200


async def test_a_refused_secret_ends_the_run_and_deletes_it(
    kube_double: KubeDouble, start: Start
) -> None:
    kube_double.secrets_forbidden = True
    remote = start("argo")
    with pytest.raises(
        ExecutorError, match=r'creating Secret .*-leases: 403 cannot create resource "secrets"'
    ):
        await remote.result()
    assert kube_double.names(WORKFLOWS, NAMESPACE) == []  # its pods would wait for it forever
    assert kube_double.names(SECRETS, NAMESPACE) == []


async def test_lease_files_too_large_for_a_secret_end_the_job_before_anything_is_made(
    kube_double: KubeDouble, pod_fields: PipelineRunSpec, tmp_path: Path
) -> None:
    big = tmp_path / "leases" / "eks-cluster-0"
    big.mkdir(parents=True)
    (big / "kubeconfig").write_bytes(b"x" * (MAX_SECRET_BYTES + 1))
    config = kube_double.kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    executor = KubeExecutor("argo", KubeSettings(namespace=NAMESPACE, kubeconfig=str(config)))
    request = RunRequest(job_id=43, build_id="8", env={}, lease_dir=big.parent)
    with pytest.raises(ExecutorError, match="too large for a Kubernetes Secret"):
        await executor.run(pod_fields, tmp_path / "out", request, asyncio.Event())
    assert kube_double.names(WORKFLOWS, NAMESPACE) == []
    assert kube_double.names(SECRETS, NAMESPACE) == []
