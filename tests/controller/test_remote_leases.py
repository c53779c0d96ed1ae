"""Jobs with leases on `agent: tekton` / `agent: argo` (the Kubernetes API double): the pods get
the lease files from a Secret of the run and the same `FOREDECK_LEASE*` variables as a local
container step; the Secret goes when the job ends; a lease lost mid-run stops the run as it
stops a local one, and the job ends `error`."""

from __future__ import annotations

import base64
from pathlib import Path

from foredeck.controller import Controller
from foredeck.leases import LeaseService, store
from tests.controller.helpers import get_job, run_all
from tests.controller.test_leases import pg_settings, prefix, slot_settings
from tests.controller.test_remote import (
    add_remote_job,
    env_of,
    kube_settings,
    kubeconfig,
    submitted,
)
from tests.db.fixtures import Database
from tests.execute.kube.engines import PIPELINERUNS, WORKFLOWS, ArgoSim, TektonSim
from tests.execute.kube.kube_double import SECRETS, KubeDouble
from tests.kit.kube import NAMESPACE
from tests.kit.wait import eventually

__all__ = ["kubeconfig", "prefix"]  # fixtures


async def test_a_tekton_job_reads_its_leased_database_from_a_secret_gone_after_the_run(
    sqlite_db: Database, tmp_path: Path, kube_double: KubeDouble, kubeconfig: Path, prefix: str
) -> None:
    job_id = add_remote_job(sqlite_db, "e2e-tekton", "tekton", [{"type": "test-db"}])
    settings = pg_settings(tmp_path, sqlite_db, prefix)
    settings.kube = kube_settings(tmp_path, sqlite_db, kubeconfig).kube
    controller = Controller(sqlite_db.engine, settings)
    name, run = await submitted(controller, job_id, kube_double, PIPELINERUNS)
    secret = await eventually(
        lambda: kube_double.get(SECRETS, NAMESPACE, f"{name}-leases"), "the lease Secret"
    )
    [busy] = store.resources(sqlite_db.engine, "test-db")
    files = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(files) == {f"test-db-0.{k}" for k in ("database", "url", "host", "port")}
    key, dsn = "test-db-0.url", files["test-db-0.url"]
    assert dsn.startswith("postgresql://") and busy.name in dsn  # the lease's own DSN
    [task] = run["spec"]["pipelineSpec"]["tasks"]
    [step] = task["taskSpec"]["steps"]
    env = env_of(step)
    assert env["FOREDECK_LEASE_TEST_DB_NAME"] == busy.name
    assert env["FOREDECK_LEASE_TEST_DB_URL_FILE"] == "/foredeck/leases/test-db-0/url"
    assert env["FOREDECK_LEASES"] == "/foredeck/leases"
    assert {"name": "foredeck-leases", "mountPath": "/foredeck/leases", "readOnly": True} in (
        step["volumeMounts"]
    )
    assert "postgresql://" not in str(run)

    await eventually(lambda: kube_double.watches_open > 0, timeout=20)
    sim = TektonSim(kube_double, NAMESPACE, name)
    sim.running()
    sim.task(task["name"], "True", "Succeeded", logs={step["name"]: f"read {key}\n"})
    sim.finish("True", "Succeeded")
    await run_all(controller)

    job = get_job(sqlite_db, job_id)
    assert job.state == "success", job.description
    assert kube_double.names(SECRETS, NAMESPACE) == []
    [resource] = store.resources(sqlite_db.engine, "test-db")
    assert resource.state == "dirty"
    build = tmp_path / "artifacts" / "logs" / "e2e-tekton" / str(job.build_id)
    password = dsn.split(":")[2].split("@")[0]
    for path in build.rglob("*"):
        if path.is_file():
            assert password not in path.read_text(errors="replace"), path


async def test_a_lease_lost_mid_run_stops_the_argo_workflow_and_the_job_ends_error(
    sqlite_db: Database, tmp_path: Path, kube_double: KubeDouble, kubeconfig: Path
) -> None:
    settings = slot_settings(tmp_path, sqlite_db)
    settings.kube = kube_settings(tmp_path, sqlite_db, kubeconfig).kube
    service = LeaseService(sqlite_db.engine, settings.leases)
    service.sync()
    job_id = add_remote_job(sqlite_db, "loses-argo", "argo", [{"type": "slot", "ttl": 1}])
    controller = Controller(sqlite_db.engine, settings)
    name, workflow = await submitted(controller, job_id, kube_double, WORKFLOWS)
    await eventually(lambda: kube_double.watches_open > 0, timeout=20)
    sim = ArgoSim(kube_double, NAMESPACE, name)
    sim.running()
    dag = next(t for t in workflow["spec"]["templates"] if "dag" in t)
    [task] = [t["name"] for t in dag["dag"]["tasks"]]
    sim.task(task, "Running", logs="working on slot-1\n")
    assert kube_double.get(SECRETS, NAMESPACE, f"{name}-leases") is not None
    [busy] = store.resources(sqlite_db.engine, "slot")
    assert busy.lease_id is not None
    # Someone else (an operator, `foredeck lease release`) gives the resource back.
    assert service.release(busy.lease_id, dirty=False)
    other = service.acquire("slot", owner="someone-else", ttl=60)

    def terminating() -> bool:
        wf = kube_double.get(WORKFLOWS, NAMESPACE, name)
        return wf is not None and wf["spec"].get("shutdown") == "Terminate"

    await eventually(terminating, "the Workflow to be told to stop")
    stopped = "Stopped with strategy 'Terminate'"
    sim.task(task, "Failed", message=stopped, code=143)
    sim.finish("Failed", stopped)
    await run_all(controller)

    job = get_job(sqlite_db, job_id)
    assert job.state == "error"
    assert job.description is not None
    assert job.description.startswith("lease slot-1 of type slot was lost")
    assert kube_double.names(SECRETS, NAMESPACE) == []
    assert kube_double.names(WORKFLOWS, NAMESPACE) == []
    [resource] = store.resources(sqlite_db.engine, "slot")
    assert (resource.state, resource.owner) == ("busy", "someone-else")  # not released by the job
    assert service.release(other)
