"""A job with `agent: argo` runs on Kubernetes (the API double) through the controller: the
same claim, publish and final state as a local job, and a refused run ends `error`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from foredeck.controller import Controller
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, create_job
from tests.controller.helpers import get_job, make_settings, read_json, run_all, wait_for
from tests.db.fixtures import Database
from tests.execute.kube.conftest import NAMESPACE
from tests.execute.kube.engines import WORKFLOWS, ArgoSim
from tests.execute.kube.kube_double import KubeDouble


def add_remote_job(db: Database, name: str, agent: str) -> int:
    config = {
        "name": name,
        "agent": agent,
        "spec": {"containers": [{"image": "alpine:3.20", "command": ["sh", "-c", "echo hi"]}]},
    }
    spec = JobCreate(name=name, type="periodic", job_config=config, agent=agent)
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        job, _ = create_job(session, spec)
        return job.id


@pytest.fixture
def kube_double() -> Iterator[KubeDouble]:
    double = KubeDouble()
    double.start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def kubeconfig(kube_double: KubeDouble, tmp_path: Path) -> Path:
    return kube_double.kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)


async def test_argo_job_runs_on_the_cluster_and_is_published(
    db: Database, tmp_path: Path, kube_double: KubeDouble, kubeconfig: Path
) -> None:
    job_id = add_remote_job(db, "nightly-argo", "argo")
    settings = make_settings(tmp_path, db)
    settings.kube.namespace = NAMESPACE
    settings.kube.kubeconfig = str(kubeconfig)
    settings.kube.ui_url = "https://argo.example.org/"
    controller = Controller(db.engine, settings)
    assert await controller.run_once() == [job_id]

    await wait_for(lambda: bool(kube_double.names(WORKFLOWS, NAMESPACE)), timeout=20)
    [name] = kube_double.names(WORKFLOWS, NAMESPACE)
    workflow = kube_double.get(WORKFLOWS, NAMESPACE, name)
    assert workflow is not None
    assert workflow["metadata"]["labels"]["foredeck.dev/job-id"] == str(job_id)
    assert kube_double.rejected == []  # the manifest validated against Argo's schema
    await wait_for(lambda: kube_double.watches_open > 0, timeout=20)
    sim = ArgoSim(kube_double, NAMESPACE, name)
    sim.running()
    dag = next(t for t in workflow["spec"]["templates"] if "dag" in t)
    for task in dag["dag"]["tasks"]:  # a spec job is one task, one step per container
        sim.task(task["name"], "Succeeded", logs="hi from the cluster\n")
    sim.finish("Succeeded")
    await run_all(controller)

    job = get_job(db, job_id)
    assert job.state == "success", job.description
    build = tmp_path / "artifacts" / "logs" / "nightly-argo" / str(job.build_id)
    assert "hi from the cluster" in (build / "build-log.txt").read_text()
    assert read_json(build / "finished.json")["result"] == "SUCCESS"
    record = read_json(build / "pipeline-run.json")  # the dashboard's link to the Argo UI
    assert record["engine"] == "argo"
    assert record["uiUrl"] == f"https://argo.example.org/workflows/{NAMESPACE}/{name}"
    await wait_for(lambda: not kube_double.names(WORKFLOWS, NAMESPACE), timeout=20)


async def test_unreachable_cluster_ends_the_job_as_error(db: Database, tmp_path: Path) -> None:
    job_id = add_remote_job(db, "nightly-tekton", "tekton")
    settings = make_settings(tmp_path, db)
    settings.kube.kubeconfig = str(tmp_path / "no-such-kubeconfig")
    controller = Controller(db.engine, settings)
    await run_all(controller)
    job = get_job(db, job_id)
    assert job.state == "error"
    assert job.description and "kubeconfig" in job.description.lower()
