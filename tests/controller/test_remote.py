"""A job with `agent: argo` runs on Kubernetes (the API double) through the controller: the
same claim, publish and final state as a local job, and a refused run ends `error`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from foredeck.controller import Controller
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, create_job
from foredeck.settings import Settings
from foredeck.storage.store import open_store
from tests.controller.helpers import (
    Upstream,
    add_job,
    get_job,
    make_settings,
    read_json,
    run_all,
    spec_config,
)
from tests.db.fixtures import Database
from tests.execute.kube.engines import PIPELINERUNS, WORKFLOWS, ArgoSim, TektonSim
from tests.execute.kube.kube_double import KubeDouble
from tests.kit.kube import NAMESPACE
from tests.kit.wait import eventually
from tests.storage.servers import BUCKET, s3_endpoint  # noqa: F401  (fixture)


def add_remote_job(
    db: Database, name: str, agent: str, leases: list[dict[str, Any]] | None = None
) -> int:
    config: dict[str, Any] = {
        "name": name,
        "agent": agent,
        "spec": {"containers": [{"image": "alpine:3.20", "command": ["sh", "-c", "echo hi"]}]},
    }
    if leases is not None:
        config["leases"] = leases
    spec = JobCreate(name=name, type="periodic", job_config=config, agent=agent)
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        job, _ = create_job(session, spec)
        return job.id


@pytest.fixture
def kubeconfig(kube_double: KubeDouble, tmp_path: Path) -> Path:
    return kube_double.kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)


async def submitted(
    controller: Controller, job_id: int, kube_double: KubeDouble, plural: tuple[str, str, str]
) -> tuple[str, dict[str, Any]]:
    """Start the job; the one object it submitted, which the double accepted."""
    assert await controller.run_once() == [job_id]
    await eventually(lambda: bool(kube_double.names(plural, NAMESPACE)), timeout=20)
    [name] = kube_double.names(plural, NAMESPACE)
    obj = kube_double.get(plural, NAMESPACE, name)
    assert obj is not None and kube_double.rejected == []
    return name, obj


async def tekton_success(
    controller: Controller, kube_double: KubeDouble, name: str, task: str, step: str
) -> None:
    """Play the PipelineRun `name` to success (one task, one step that logs), then let the
    controller finish the job."""
    await eventually(lambda: kube_double.watches_open > 0, timeout=20)
    sim = TektonSim(kube_double, NAMESPACE, name)
    sim.running()
    sim.task(task, "True", "Succeeded", logs={step: "made\n"})
    sim.finish("True", "Succeeded")
    await run_all(controller)


def kube_settings(tmp_path: Path, db: Database, kubeconfig: Path) -> Settings:
    """Settings whose remote runs go to the double's namespace."""
    settings = make_settings(tmp_path, db)
    settings.kube.namespace = NAMESPACE
    settings.kube.kubeconfig = str(kubeconfig)
    return settings


async def test_argo_job_runs_on_the_cluster_and_is_published(
    db: Database, tmp_path: Path, kube_double: KubeDouble, kubeconfig: Path
) -> None:
    job_id = add_remote_job(db, "nightly-argo", "argo")
    settings = kube_settings(tmp_path, db, kubeconfig)
    settings.kube.ui_url = "https://argo.example.org/"
    controller = Controller(db.engine, settings)
    name, workflow = await submitted(controller, job_id, kube_double, WORKFLOWS)
    assert workflow["metadata"]["labels"]["foredeck.dev/job-id"] == str(job_id)
    assert kube_double.rejected == []  # the manifest validated against Argo's schema
    await eventually(lambda: kube_double.watches_open > 0, timeout=20)
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
    await eventually(lambda: not kube_double.names(WORKFLOWS, NAMESPACE), timeout=20)


async def test_unreachable_cluster_ends_the_job_as_error(db: Database, tmp_path: Path) -> None:
    job_id = add_remote_job(db, "nightly-tekton", "tekton")
    settings = make_settings(tmp_path, db)
    settings.kube.kubeconfig = str(tmp_path / "no-such-kubeconfig")
    controller = Controller(db.engine, settings)
    await run_all(controller)
    job = get_job(db, job_id)
    assert job.state == "error"
    assert job.description and "kubeconfig" in job.description.lower()


# -- decoration and the default agent ---------------------------------------------------------


def add_pull_job(db: Database, up: Upstream, name: str, agent: str | None) -> int:
    """A presubmit with refs (a pull of `up`); `agent=None` leaves Prow's default."""
    head = up.topic("pr", {"feature.txt": "new\n"}, "A change")
    config: dict[str, Any] = {
        "name": name,
        "spec": {"containers": [{"image": "alpine:3.20", "command": ["sh", "-c", "make"]}]},
    }
    if agent is not None:
        config["agent"] = agent
    spec = JobCreate(
        name=name,
        type="presubmit",
        refs=up.refs(7, head, "refs/heads/pr"),
        job_config=config,
        agent=agent,
    )
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        job, _ = create_job(session, spec)
        return job.id


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env") or []}


async def test_tekton_pods_get_checkout_and_prow_env_but_no_controller_secrets(
    db: Database,
    tmp_path: Path,
    kube_double: KubeDouble,
    kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FOREDECK_API__TOKEN", "controller-secret-token")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_controller_secret")
    up = Upstream(tmp_path / "repos")
    job_id = add_pull_job(db, up, "pull-tekton", "tekton")
    settings = kube_settings(tmp_path, db, kubeconfig)
    settings.kube.utility_image = "registry.example/foredeck:9"
    controller = Controller(db.engine, settings)
    name, run = await submitted(controller, job_id, kube_double, PIPELINERUNS)
    text = json.dumps(run)
    assert "controller-secret-token" not in text and "ghp_controller_secret" not in text
    assert "FOREDECK_" not in text
    job = get_job(db, job_id)
    [task] = run["spec"]["pipelineSpec"]["tasks"]
    clone, *user = task["taskSpec"]["steps"]
    assert clone["image"] == "registry.example/foredeck:9"
    [refs] = json.loads(clone["command"][clone["command"].index("--refs") + 1])
    assert refs["clone_uri"] == str(up.path)
    assert refs["pulls"][0]["number"] == 7
    assert user, "the job's own container"
    for step in user:
        env = env_of(step)
        assert env["PULL_NUMBER"] == "7"
        assert env["REPO_OWNER"] == "org" and env["REPO_NAME"] == "repo"
        assert env["PULL_PULL_SHA"] == refs["pulls"][0]["sha"]
        assert env["BUILD_ID"] == job.build_id
        assert env["JOB_NAME"] == "pull-tekton" and env["JOB_TYPE"] == "presubmit"
        assert env["ARTIFACTS"] == "/foredeck/artifacts"
        assert step["workingDir"] == "/foredeck/src/org/repo"  # not the controller's checkout
        assert "onError" not in step  # a file store: nothing uploads, the steps are as emitted

    # What a step uploaded (here: put in place during the run) survives the controller's publish.
    build = tmp_path / "artifacts" / "pr-logs" / "pull" / "org_repo" / "7" / "pull-tekton"
    uploaded = build / str(job.build_id) / "artifacts" / task["name"] / "junit.xml"
    uploaded.parent.mkdir(parents=True)
    uploaded.write_text("<testsuite/>")
    await tekton_success(controller, kube_double, name, task["name"], user[0]["name"])

    job = get_job(db, job_id)
    assert job.state == "success", job.description
    assert uploaded.read_text() == "<testsuite/>"
    log = (build / str(job.build_id) / "build-log.txt").read_text()
    assert "pods cannot reach" in log  # why nothing was uploaded by the steps
    assert read_json(build / str(job.build_id) / "prowjob.json")["spec"]["agent"] == "tekton"


async def test_default_agent_sends_kubernetes_jobs_to_the_cluster(
    db: Database, tmp_path: Path, kube_double: KubeDouble, kubeconfig: Path
) -> None:
    up = Upstream(tmp_path / "repos")
    job_id = add_pull_job(db, up, "pull-default", None)  # Prow's default agent: kubernetes
    settings = kube_settings(tmp_path, db, kubeconfig)
    settings.kube.default_agent = "argo"
    controller = Controller(db.engine, settings)
    name, workflow = await submitted(controller, job_id, kube_double, WORKFLOWS)
    leaves = [t for t in workflow["spec"]["templates"] if "dag" not in t]
    assert leaves
    for template in leaves:
        [init] = template["initContainers"]
        assert init["command"][:3] == ["foredeck", "util", "clonerefs"]
        body = template.get("container") or template.get("script")
        assert body is not None and env_of(body)["PULL_NUMBER"] == "7"
    await eventually(lambda: kube_double.watches_open > 0, timeout=20)
    sim = ArgoSim(kube_double, NAMESPACE, name)
    sim.running()
    dag = next(t for t in workflow["spec"]["templates"] if "dag" in t)
    for task in dag["dag"]["tasks"]:
        sim.task(task["name"], "Succeeded", logs="ok\n")
    sim.finish("Succeeded")
    await run_all(controller)
    job = get_job(db, job_id)
    assert job.state == "success", job.description
    build = tmp_path / "artifacts" / "pr-logs" / "pull" / "org_repo" / "7" / "pull-default"
    prowjob = read_json(build / str(job.build_id) / "prowjob.json")
    assert prowjob["spec"]["agent"] == "argo"  # the engine it really ran on


async def test_local_default_and_unknown_agents(db: Database, tmp_path: Path) -> None:
    """Without `default_agent`, `kubernetes` runs here; an agent foredeck has no executor for
    ends `error` saying so (before any checkout)."""
    local = add_job(db, "plain", spec_config("echo here"))
    jenkins = add_remote_job(db, "jenkins-job", "jenkins")
    controller = Controller(db.engine, make_settings(tmp_path, db))
    await run_all(controller)
    assert get_job(db, local).state == "success"
    job = get_job(db, jenkins)
    assert job.state == "error"
    assert job.description is not None and "agent 'jenkins' is not supported" in job.description


async def test_s3_store_makes_tekton_steps_upload_their_artifacts(
    db: Database,
    tmp_path: Path,
    kube_double: KubeDouble,
    kubeconfig: Path,
    s3_endpoint: str,  # noqa: F811
) -> None:
    up = Upstream(tmp_path / "repos")
    job_id = add_pull_job(db, up, "pull-s3", "tekton")
    settings = kube_settings(tmp_path, db, kubeconfig)
    settings.artifacts.url = f"s3://{BUCKET}/controller-{job_id}-{tmp_path.name}"
    controller = Controller(db.engine, settings)
    name, run = await submitted(controller, job_id, kube_double, PIPELINERUNS)
    job = get_job(db, job_id)
    [task] = run["spec"]["pipelineSpec"]["tasks"]
    _clone, *user, upload = task["taskSpec"]["steps"]
    assert all(step["onError"] == "continue" for step in user)
    command = upload["command"]
    build_dir = f"pr-logs/pull/org_repo/7/pull-s3/{job.build_id}"
    to = command[command.index("--to") + 1]
    assert to == f"{settings.artifacts.url}/{build_dir}/artifacts/{task['name']}"
    assert env_of(upload) == {"AWS_ENDPOINT_URL_S3": s3_endpoint, "AWS_REGION": "us-east-1"}

    await tekton_success(controller, kube_double, name, task["name"], user[0]["name"])
    job = get_job(db, job_id)
    assert job.state == "success", job.description
    store = open_store(settings.artifacts.url)
    assert store.exists(f"{build_dir}/finished.json")
    assert read_json_bytes(store.read_bytes(f"{build_dir}/prowjob.json"))["spec"]["agent"] == (
        "tekton"
    )
    record = read_json_bytes(store.read_bytes(f"{build_dir}/pipeline-run.json"))
    assert record["tasks"][task["name"]]["artifacts"] == f"artifacts/{task['name']}"


def read_json_bytes(data: bytes) -> Any:
    return json.loads(data)
