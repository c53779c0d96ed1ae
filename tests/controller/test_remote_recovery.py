"""A controller that starts after another one died mid-run: recovery re-queues the job, and the
cluster sweep stops and deletes the dead run's object before the job runs again in a new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from foredeck.controller import Controller
from foredeck.execute.kube.engine import BUILD_LABEL, JOB_LABEL
from tests.controller.helpers import get_job, make_settings, run_all
from tests.controller.test_recovery import make_pending
from tests.controller.test_remote import add_remote_job
from tests.db.fixtures import Database
from tests.execute.kube.engines import ArgoSim, TektonSim
from tests.execute.kube.kube_double import KubeDouble
from tests.kit.kube import NAMESPACE
from tests.kit.wait import eventually
from tests.sinker.cluster_world import ClusterWorld, Engine


@pytest.mark.parametrize("engine", ["argo", "tekton"])
async def test_a_requeued_jobs_dead_run_is_deleted_at_start_and_the_new_one_kept(
    db: Database, tmp_path: Path, kube_double: KubeDouble, engine: Engine
) -> None:
    world = ClusterWorld(db, kube_double, tmp_path, engine)
    job_id = add_remote_job(db, f"nightly-{engine}", engine)
    make_pending(db, job_id, "elsewhere:4242:abcd", 60, tmp_path / "runs" / str(job_id))
    dead = world.run(job_id, "1")  # the dead controller's run (build 1), still running
    settings = make_settings(tmp_path, db, stale_after=30, requeue_on_recovery=True)
    settings.kube = world.settings().kube  # default agent: this engine, on the double
    controller = Controller(db.engine, settings)

    assert await controller.run_once() == [job_id]  # recovered, swept, claimed again
    assert not world.exists(dead) and world.stop_asked(dead)
    await eventually(lambda: bool(kube_double.names(world.resource, NAMESPACE)), timeout=20)
    [new] = kube_double.names(world.resource, NAMESPACE)
    labels = (kube_double.get(world.resource, NAMESPACE, new) or {})["metadata"]["labels"]
    job = get_job(db, job_id)
    assert (job.state, job.requeues) == ("pending", 1)
    assert labels[JOB_LABEL] == str(job_id) and labels[BUILD_LABEL] == job.build_id != "1"

    controller.sweep_cluster()  # the new attempt's run is its job's current one
    assert world.exists(new) and not world.stop_asked(new)
    await eventually(lambda: kube_double.watches_open > 0, timeout=20)
    if engine == "argo":
        argo = ArgoSim(kube_double, NAMESPACE, new)
        argo.running()
        argo.finish("Succeeded")
    else:
        tekton = TektonSim(kube_double, NAMESPACE, new)
        tekton.running()
        tekton.finish("True", "Succeeded")
    await run_all(controller)
    assert get_job(db, job_id).state in ("success", "failure")
