"""The cluster sweep against the Kubernetes API double and a real database, on both engines:
the runs no job needs are stopped and deleted, the ones a job's current attempt uses are kept."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from foredeck.execute.kube.sweep import ClusterTally, Deleted, sweep_cluster
from foredeck.settings import ControllerSettings
from foredeck.sinker import Sinker
from tests.db.fixtures import Database
from tests.execute.kube.kube_double import KubeDouble
from tests.kit.kube import NAMESPACE
from tests.sinker.cluster_world import ClusterWorld, Engine

ENGINES: list[Engine] = ["argo", "tekton"]


@pytest.fixture(params=ENGINES)
def world(
    request: pytest.FixtureRequest, sqlite_db: Database, kube_double: KubeDouble, tmp_path: Path
) -> ClusterWorld:
    return ClusterWorld(sqlite_db, kube_double, tmp_path, request.param)


def sweep(world: ClusterWorld, **sinker: object) -> ClusterTally:
    at = datetime.fromtimestamp(world.now, UTC)
    tally = sweep_cluster(world.settings(**sinker), world.db.engine, at)
    assert tally is not None
    return tally


def test_a_finished_jobs_running_leftover_is_stopped_and_deleted_with_its_secret(
    world: ClusterWorld,
) -> None:
    job = world.job("success", "101")
    run = world.run(job, "101")
    secret = world.lease_secret(run, job, uid=world.uid(run))
    tally = sweep(world)
    assert not world.exists(run) and world.stop_asked(run)
    assert not world.secret_exists(secret)  # with its owner
    assert tally.deleted == [Deleted(world.resource[2], run, str(job), "job finished")]
    assert (tally.aborted, tally.errors) == (1, 0)


def test_a_finished_run_of_a_gone_job_is_deleted_without_a_stop(world: ClusterWorld) -> None:
    run = world.run(424242, "7", running=False)
    tally = sweep(world)
    assert not world.exists(run) and not world.stop_asked(run)
    assert [d.why for d in tally.deleted] == ["job gone"] and tally.aborted == 0


def test_the_run_of_a_running_jobs_current_attempt_is_kept(world: ClusterWorld) -> None:
    job = world.job("pending", "202")
    run = world.run(job, "202")
    secret = world.lease_secret(run, job, uid=world.uid(run))
    tally = sweep(world)
    assert world.exists(run) and not world.stop_asked(run) and world.secret_exists(secret)
    assert tally.deleted == [] and tally.kept == 1


def test_an_orphan_of_a_requeued_job_goes_and_the_new_attempts_run_stays(
    world: ClusterWorld,
) -> None:
    """The dead controller's run (build 301) still runs; recovery re-queued the job, which a
    new controller claimed as build 302 and runs in a new object."""
    job = world.job("pending", "302")
    orphan = world.run(job, "301", age=3600)
    current = world.run(job, "302", age=120)
    tally = sweep(world)
    assert not world.exists(orphan) and world.stop_asked(orphan)
    assert world.exists(current) and not world.stop_asked(current)
    assert [(d.name, d.why) for d in tally.deleted] == [(orphan, "orphan")]


def test_every_run_of_a_requeued_job_not_yet_claimed_is_an_orphan(world: ClusterWorld) -> None:
    job = world.job("triggered", None)
    run = world.run(job, "401")
    sweep(world)
    assert not world.exists(run)


def test_a_run_younger_than_the_grace_is_kept_whatever_its_job(world: ClusterWorld) -> None:
    job = world.job("success", "501")
    young = world.run(job, "501", age=30)
    old = world.run(job, "501", age=90)
    tally = sweep(world, cluster_grace=60)
    assert world.exists(young) and not world.stop_asked(young)
    assert not world.exists(old)
    assert tally.kept == 1


def test_a_just_aborted_jobs_run_is_left_to_its_controller_for_a_while(
    world: ClusterWorld,
) -> None:
    """The runner of a live controller waits for the engine's exit handlers after an abort."""
    recent = world.run(world.job("aborted", "601", finished_ago=60), "601")
    later = world.run(world.job("aborted", "602", finished_ago=900), "602")
    sweep(world)
    assert world.exists(recent) and not world.exists(later)


def test_a_run_made_before_build_labels_is_kept_while_its_job_runs(world: ClusterWorld) -> None:
    job = world.job("pending", "701")
    run = world.run(job, None)
    sweep(world)
    assert world.exists(run)


def test_a_lease_secret_whose_run_is_gone_is_deleted(world: ClusterWorld) -> None:
    job = world.job("pending", "801")
    run = world.run(job, "801")
    kept = world.lease_secret(run, job, uid=world.uid(run))
    stray = world.lease_secret("unit-gone-000000", job)
    young = world.lease_secret("unit-gone-000001", job, age=5)
    tally = sweep(world)
    assert world.secret_exists(kept) and world.secret_exists(young)
    assert not world.secret_exists(stray)
    assert [(d.kind, d.name, d.why) for d in tally.deleted] == [("secrets", stray, "run gone")]


def test_an_api_error_is_logged_and_the_sweep_goes_on(
    world: ClusterWorld, caplog: pytest.LogCaptureFixture
) -> None:
    refused = world.run(world.job("failure", "901"), "901")
    deleted = world.run(world.job("error", "902"), "902")
    world.double.undeletable.add(refused)
    with caplog.at_level(logging.INFO, logger="foredeck.execute.kube.sweep_api"):
        tally = sweep(world)
    assert world.exists(refused) and not world.exists(deleted)
    assert tally.errors == 1 and [d.name for d in tally.deleted] == [deleted]
    assert f"deleting {'Workflow' if world.engine == 'argo' else 'PipelineRun'} {refused}: 403" in (
        caplog.text
    )
    assert f"{deleted} of job" in caplog.text and "(job finished, aborted first)" in caplog.text
    assert "c2VjcmV0" not in caplog.text


def test_an_engine_not_installed_is_an_error_and_the_other_is_swept(
    sqlite_db: Database, kube_double: KubeDouble, tmp_path: Path
) -> None:
    world = ClusterWorld(sqlite_db, kube_double, tmp_path, "tekton")
    run = world.run(world.job("success", "1001"), "1001")
    kube_double.missing.add("workflows")  # no Argo on this cluster
    tally = sweep(world, cluster_engines=["argo", "tekton"])
    assert tally.errors == 1 and not world.exists(run)


def test_an_unreachable_cluster_is_an_error(
    sqlite_db: Database, kube_double: KubeDouble, tmp_path: Path
) -> None:
    world = ClusterWorld(sqlite_db, kube_double, tmp_path, "argo")
    run = world.run(world.job("success", "1002"), "1002")
    kube_double.token = "rotated"  # our token is refused: 401 on every call
    tally = sweep(world)
    assert (tally.errors, tally.deleted) == (1, []) and world.exists(run)


def test_no_engine_no_sweep(sqlite_db: Database, kube_double: KubeDouble, tmp_path: Path) -> None:
    world = ClusterWorld(sqlite_db, kube_double, tmp_path, "argo")
    settings = world.settings().model_copy(
        update={"kube": world.settings().kube.model_copy(update={"default_agent": "local"})}
    )
    assert sweep_cluster(settings, sqlite_db.engine, datetime.now(UTC)) is None
    assert kube_double.requests == []


def test_the_sinker_sweeps_the_cluster_and_counts(world: ClusterWorld, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    job = world.job("success", "1101")
    run = world.run(job, "1101")
    settings = world.settings().model_copy(
        update={"controller": ControllerSettings(workdir=str(tmp_path / "runs"))}
    )
    sinker = Sinker.from_settings(settings, world.db.engine, registry=registry)
    result = sinker.sweep(datetime.fromtimestamp(world.now, UTC))
    assert not world.exists(run)
    assert result.cluster is not None and len(result.cluster.deleted) == 1
    labels = {"kind": world.resource[2], "reason": "job finished"}
    assert registry.get_sample_value("foredeck_sinker_cluster_deleted_total", labels) == 1
    assert registry.get_sample_value("foredeck_sinker_cluster_errors_total") == 0


def test_a_failing_cluster_sweep_does_not_stop_the_local_one(
    sqlite_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()

    def broken(at: datetime) -> ClusterTally | None:
        raise RuntimeError("database went away")

    sinker = Sinker(
        sqlite_db.engine, workdir=tmp_path, max_age=60, registry=registry, cluster=broken
    )
    result = sinker.sweep(datetime.now(UTC))
    assert result.cluster is None and "sinker: cluster sweep failed" in caplog.text
    assert registry.get_sample_value("foredeck_sinker_cluster_errors_total") == 1


def test_a_namespace_listed_in_several_pages_is_swept_whole(
    world: ClusterWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs and Secrets are listed `PAGE` at a time with the API's `continue` tokens: none is
    missed past the first page (a single listing once stopped at whatever the server sent)."""
    monkeypatch.setattr("foredeck.execute.kube.sweep_api.PAGE", 2)
    job = world.job("success", "1201")
    runs = [world.run(job, "1201") for _ in range(5)]
    secrets = [world.lease_secret(run, job, uid="gone-" + run) for run in runs[:3]]
    kept = world.job("pending", "1202")
    current = world.run(kept, "1202")
    tally = sweep(world)
    assert not any(world.exists(run) for run in runs) and world.exists(current)
    assert not any(world.secret_exists(secret) for secret in secrets)
    assert sorted(d.name for d in tally.deleted if d.kind != "secrets") == sorted(runs)
    assert tally.kept == 1 and tally.errors == 0
    lists = [
        q
        for m, p, q in world.double.requests
        if m == "GET" and p.endswith("/" + world.resource[2]) and q.get("watch") != "true"
    ]
    assert [q.get("limit") for q in lists] == ["2", "2", "2"]  # 6 runs: 2 + 2 + 2
    assert "continue" not in lists[0] and all(q.get("continue") for q in lists[1:])


def test_the_doubles_paging_keeps_the_api_servers_contract(world: ClusterWorld) -> None:
    """Chunked lists as the API server gives them: `limit` items in name order, a `continue`
    token and `remainingItemCount` while more are left, none on the last page; a token that
    does not decode is a 400 (`continue key is not valid`)."""
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    from foredeck.execute.kube.client import api_client, target_of

    names = sorted(world.run(424242, None) for _ in range(3))
    api = api_client(target_of(world.settings().kube))
    try:
        custom = k8s.CustomObjectsApi(api)
        where = (*world.resource[:2], NAMESPACE, world.resource[2])
        first = cast(dict[str, Any], custom.list_namespaced_custom_object(*where, limit=2))
        assert [o["metadata"]["name"] for o in first["items"]] == names[:2]
        assert first["metadata"]["remainingItemCount"] == 1
        token = first["metadata"]["continue"]
        last = cast(
            dict[str, Any], custom.list_namespaced_custom_object(*where, limit=2, _continue=token)
        )
        assert [o["metadata"]["name"] for o in last["items"]] == names[2:]
        assert "continue" not in last["metadata"]
        with pytest.raises(ApiException) as bad:
            custom.list_namespaced_custom_object(*where, limit=2, _continue="not-a-token")
        assert bad.value.status == 400
    finally:
        api.close()
