"""Jobs that declare `leases:`: the controller acquires them before the first step, hands them to
the steps, shows them, and releases them dirty however the job ends."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from foredeck.config import ConfigAgent, JobConfigError, load_config
from foredeck.controller import Controller
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import set_state
from foredeck.leases import LeaseService, store
from foredeck.leases.held import job_leases
from foredeck.leases.postgres_db import PostgresDatabases
from foredeck.serve.app import create_service_app
from foredeck.settings import ContainerSettings, LeaseSettings, Settings
from tests.conftest import PG_URL
from tests.controller.helpers import (
    add_job,
    get_job,
    host_dir,
    make_settings,
    read_json,
    run_all,
    spec_config,
)
from tests.db.fixtures import Database
from tests.kit.step_image import IMAGE, IN_IMAGE, StepImage, build_step_image
from tests.kit.wait import eventually, wait_for

CONNECT = """\
import os, subprocess, urllib.parse as up
with open(os.environ["FOREDECK_LEASE_TEST_DB_URL_FILE"]) as f:
    url = up.urlsplit(f.read())
env = dict(os.environ, PGHOST=url.hostname, PGPORT=str(url.port or 5432),
           PGUSER=up.unquote(url.username), PGPASSWORD=up.unquote(url.password),
           PGDATABASE=url.path.lstrip("/"))
done = subprocess.run(["psql", "-tAc", "select current_database()"], env=env,
                      capture_output=True, text=True, check=True)
with open(os.environ["SEEN"], "w") as out:
    out.write(done.stdout.strip() + " " + os.environ["FOREDECK_LEASE_TEST_DB_NAME"])
"""


@pytest.fixture
def prefix() -> Iterator[str]:
    """A prefix of the test's own; the databases it names are dropped at the end."""
    name = f"fdj{secrets.token_hex(4)}"
    provider = PostgresDatabases(PG_URL, name)
    try:
        provider.list_owned()
    except Exception as exc:
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    try:
        yield name
    finally:
        for db_name in provider.list_owned():
            provider.delete(db_name)
        provider.close()


def with_leases(settings: Settings, **leases: Any) -> Settings:
    return settings.model_copy(update={"leases": LeaseSettings.model_validate(leases)})


def pg_settings(tmp_path: Path, db: Database, prefix: str) -> Settings:
    provider = {"kind": "postgres-database", "url": PG_URL}
    return with_leases(
        make_settings(tmp_path, db),
        prefix=prefix,
        types=[{"name": "test-db", "provider": provider}],
        prices={"test-db": 3.6},
    )


def intervals_of(db: Database, job_id: int, prices: dict[str, float]) -> list[Any]:
    with session_factory(db.engine)() as session:
        return job_leases(session, job_id, prices)


async def test_a_step_connects_to_its_leased_database_then_it_is_released_dirty(
    sqlite_db: Database, tmp_path: Path, prefix: str
) -> None:
    script = host_dir(tmp_path) / "connect.py"
    script.write_text(CONNECT)
    seen = host_dir(tmp_path) / "seen"
    config = spec_config(
        f"python3 {script}",
        leases=[{"type": "test-db", "ttl": 60}],
    )
    config["spec"]["containers"][0]["env"] = [{"name": "SEEN", "value": str(seen)}]
    job_id = add_job(sqlite_db, "uses-db", config)
    settings = pg_settings(tmp_path, sqlite_db, prefix)
    await run_all(Controller(sqlite_db.engine, settings))

    job = get_job(sqlite_db, job_id)
    assert job.state == "success", job.description
    # The step read the DSN from its file and connected with it (no password on a command line).
    database, name = seen.read_text().split()
    assert database == name and database.startswith(f"{prefix}_")
    [held] = intervals_of(sqlite_db, job_id, settings.leases.prices)
    assert (held.type, held.name, held.ended) == ("test-db", name, "released")
    assert held.cost == pytest.approx(held.held_seconds / 1000, abs=1e-3)  # 3.6 per hour
    [resource] = store.resources(sqlite_db.engine, "test-db")
    assert resource.state == "dirty"
    build = tmp_path / "artifacts" / "logs" / "uses-db" / str(job.build_id)
    finished = read_json(build / "finished.json")
    assert finished["metadata"]["leases"] == [{"type": "test-db", "name": name}]
    assert not (tmp_path / "runs" / str(job_id) / "leases").exists()  # files gone with it
    log = (build / "build-log.txt").read_text()
    assert "postgresql://" not in log  # the DSN is in a file, never in a log


IN_CONTAINER = """\
cat /etc/in-image
echo "leases=$FOREDECK_LEASES dir=$FOREDECK_LEASE_TEST_DB_DIR"
echo "file=$FOREDECK_LEASE_TEST_DB_URL_FILE"
echo "dsn lines: $(grep -c '^postgresql://' "$FOREDECK_LEASE_TEST_DB_URL_FILE")"
if (echo x > "$FOREDECK_LEASE_TEST_DB_URL_FILE") 2>/dev/null; then echo writable; \
else echo read-only; fi
"""


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepImage]:
    image = build_step_image(tmp_path_factory.mktemp("podman"))
    yield image
    image.remove_all()


async def test_a_container_step_reads_its_lease_from_a_read_only_mount(
    podman: StepImage, sqlite_db: Database, tmp_path: Path, prefix: str
) -> None:
    config = {
        "spec": {"containers": [{"image": IMAGE, "command": ["sh", "-c", IN_CONTAINER]}]},
        "leases": [{"type": "test-db", "ttl": 60}],
    }
    job_id = add_job(sqlite_db, "db-in-container", config)
    settings = pg_settings(tmp_path, sqlite_db, prefix)
    settings = settings.model_copy(
        update={"containers": ContainerSettings.model_validate(podman.settings())}
    )
    await run_all(Controller(sqlite_db.engine, settings))

    job = get_job(sqlite_db, job_id)
    build = tmp_path / "artifacts" / "logs" / "db-in-container" / str(job.build_id)
    log = (build / "build-log.txt").read_text()
    assert job.state == "success", log
    assert IN_IMAGE in log  # it ran in its image, not on the host
    assert "leases=/foredeck/leases dir=/foredeck/leases/test-db-0" in log
    assert "file=/foredeck/leases/test-db-0/url" in log
    assert "dsn lines: 1" in log and "read-only" in log and "writable" not in log
    assert "postgresql://" not in log
    [held] = intervals_of(sqlite_db, job_id, {})
    assert held.ended == "released"


async def test_an_aborted_job_releases_its_lease(
    sqlite_db: Database, tmp_path: Path, prefix: str
) -> None:
    started = host_dir(tmp_path) / "started"
    config = spec_config(f"touch {started}; sleep 30", leases=[{"type": "test-db"}])
    job_id = add_job(sqlite_db, "aborted", config)
    controller = Controller(sqlite_db.engine, pg_settings(tmp_path, sqlite_db, prefix))
    assert await controller.run_once() == [job_id]
    await eventually(started.exists, "the step to start")
    [busy] = store.resources(sqlite_db.engine, "test-db")
    assert busy.state == "busy" and busy.owner == f"job/{job_id}"

    with write_lock(sqlite_db.engine), session_factory(sqlite_db.engine).begin() as session:
        assert set_state(session, job_id, "aborted", description="stop it")
    await run_all(controller)

    assert get_job(sqlite_db, job_id).state == "aborted"
    [resource] = store.resources(sqlite_db.engine, "test-db")
    assert resource.state == "dirty" and resource.owner is None


async def test_a_job_waits_pending_for_a_busy_resource_and_starts_when_it_is_freed(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = with_leases(
        make_settings(tmp_path, sqlite_db),
        types=[{"name": "slot", "resources": ["slot<1>"]}],
        prices={"slot": 2.0},
    )
    service = LeaseService(sqlite_db.engine, settings.leases)
    service.sync()
    other = service.acquire("slot", owner="someone", ttl=60)
    out = host_dir(tmp_path) / "name"
    config = spec_config(f'echo "$FOREDECK_LEASE_SLOT_NAME" > {out}', leases=[{"type": "slot"}])
    job_id = add_job(sqlite_db, "waits", config)
    controller = Controller(sqlite_db.engine, settings)
    assert await controller.run_once() == [job_id]

    def waiting() -> bool:
        job = get_job(sqlite_db, job_id)
        return job.state == "pending" and job.description == "Waiting for a free slot lease."

    await eventually(waiting, "the job to say what it waits for")
    assert not out.exists()
    service.release(other, dirty=False)
    await run_all(controller)
    job = get_job(sqlite_db, job_id)
    assert job.state == "success", job.description
    assert out.read_text().strip() == "slot<1>"
    [resource] = store.resources(sqlite_db.engine, "slot")
    assert resource.state == "dirty"

    client = TestClient(create_service_app(settings, sqlite_db.engine))
    [shown] = client.get(f"/api/jobs/{job_id}").json()["leases"]
    assert (shown["type"], shown["name"], shown["ended"]) == ("slot", "slot<1>", "released")
    assert shown["cost"] == pytest.approx(2.0 * shown["held_seconds"] / 3600, abs=1e-3)
    page = client.get(f"/view/{job_id}").text
    assert "<td>slot&lt;1&gt;</td>" in page and "slot<1>" not in page


def test_an_unknown_lease_type_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "periodics:\n"
        "- name: p\n"
        "  interval: 1h\n"
        "  spec: {containers: [{image: busybox}]}\n"
        "  leases:\n"
        "  - type: eks-clutser\n"
    )
    result = load_config([path], lease_types=frozenset({"eks-cluster"}))
    [error] = result.errors
    assert error.source.line == 6
    assert "unknown lease type 'eks-clutser'" in error.message
    assert load_config([path], lease_types=frozenset({"eks-clutser"})).ok
    settings = Settings.model_validate(
        {"config_path": str(path), "leases": {"types": [{"name": "eks-cluster"}]}}
    )
    with pytest.raises(JobConfigError, match=r"jobs\.yaml:6"):  # how `foredeck serve` loads it
        ConfigAgent.from_settings(settings)


PIPELINE_LEASES = """\
periodics:
- name: p
  interval: 1h
  pipeline:
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata:
      name: p
      annotations:
        foredeck.dev/leases: '[{"type": "eks-clutser"}]'
    spec:
      tasks:
      - name: t
        taskSpec:
          steps: [{name: s, image: busybox, script: "true"}]
"""


def test_a_pipelines_unknown_lease_type_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(PIPELINE_LEASES)
    [error] = load_config([path], lease_types=frozenset({"eks-cluster"})).errors
    assert (error.source.file, error.source.line) == (str(path), 10)  # the annotation
    assert "pipeline: unknown lease type 'eks-clutser'" in error.message
    assert load_config([path], lease_types=frozenset({"eks-clutser"})).ok


def annotated(script: str, leases: str) -> dict[str, Any]:
    """An inline pipeline whose `foredeck.dev/leases` annotation is `leases`."""
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Pipeline",
        "metadata": {"name": "p", "annotations": {"foredeck.dev/leases": leases}},
        "spec": {
            "tasks": [{"name": "t", "taskSpec": {"steps": [{"name": "s", "script": script}]}}]
        },
    }


async def test_a_pipeline_leases_what_it_declares_beside_the_jobs_leases(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = with_leases(
        make_settings(tmp_path, sqlite_db),
        types=[
            {"name": "slot", "resources": ["slot-1"]},
            {"name": "pool", "resources": ["pool-1", "pool-2"]},
        ],
    )
    LeaseService(sqlite_db.engine, settings.leases).sync()
    out = host_dir(tmp_path) / "names"
    script = f'echo "$FOREDECK_LEASE_SLOT_NAME $FOREDECK_LEASE_POOL_NAME" > {out}'
    # The job's own entry for pool wins over the pipeline's (count 2 there, 1 here).
    pipeline = annotated(script, '[{"type": "slot"}, {"type": "pool", "count": 2}]')
    job_id = add_job(
        sqlite_db, "piped", {"pipeline": pipeline, "leases": [{"type": "pool", "ttl": 60}]}
    )
    await run_all(Controller(sqlite_db.engine, settings))

    job = get_job(sqlite_db, job_id)
    assert job.state == "success", job.description
    slot, pool = out.read_text().split()
    assert slot == "slot-1" and pool in ("pool-1", "pool-2")
    held = sorted((h.type, h.name, h.ended) for h in intervals_of(sqlite_db, job_id, {}))
    assert held == [("pool", pool, "released"), ("slot", "slot-1", "released")]


async def test_a_pipeline_naming_an_unknown_lease_type_ends_the_job_in_error(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = with_leases(
        make_settings(tmp_path, sqlite_db), types=[{"name": "slot", "resources": ["slot-1"]}]
    )
    LeaseService(sqlite_db.engine, settings.leases).sync()
    ran = host_dir(tmp_path) / "ran"
    pipeline = annotated(f"touch {ran}", '[{"type": "slot"}, {"type": "nope"}]')
    job_id = add_job(sqlite_db, "unknown", {"pipeline": pipeline})
    await run_all(Controller(sqlite_db.engine, settings))

    job = get_job(sqlite_db, job_id)
    assert job.state == "error"
    assert job.description is not None
    assert "unknown lease type 'nope' (leases.types: slot)" in job.description
    assert job.description.startswith("pipeline ")  # names where the pipeline says so
    assert not ran.exists()
    assert intervals_of(sqlite_db, job_id, {}) == []  # nothing leased, not even the slot


def slot_settings(tmp_path: Path, db: Database, **controller: Any) -> Settings:
    return with_leases(
        make_settings(tmp_path, db, **controller),
        types=[{"name": "slot", "resources": ["slot-1"]}],
        reap_interval=0.1,
    )


def ended(db: Database, job_id: int) -> list[str | None]:
    return [held.ended for held in intervals_of(db, job_id, {})]


async def test_heartbeats_keep_a_lease_past_its_ttl(sqlite_db: Database, tmp_path: Path) -> None:
    settings = slot_settings(tmp_path, sqlite_db)
    service = LeaseService(sqlite_db.engine, settings.leases)
    service.sync()
    job_id = add_job(
        sqlite_db, "long", spec_config("sleep 2.5", leases=[{"type": "slot", "ttl": 1}])
    )
    controller = Controller(sqlite_db.engine, settings)
    task = asyncio.ensure_future(run_all(controller))
    while not task.done():  # the reaper, as `foredeck serve` runs it, all along
        await asyncio.to_thread(service.maintain)
        await asyncio.sleep(0.1)
    await task
    assert get_job(sqlite_db, job_id).state == "success"
    assert ended(sqlite_db, job_id) == ["released"]


async def test_a_lease_released_by_someone_else_stops_the_job(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = slot_settings(tmp_path, sqlite_db)
    service = LeaseService(sqlite_db.engine, settings.leases)
    service.sync()
    started = host_dir(tmp_path) / "started"
    finished = host_dir(tmp_path) / "finished"
    script = f"touch {started}; sleep 60; touch {finished}"
    job_id = add_job(sqlite_db, "loses", spec_config(script, leases=[{"type": "slot", "ttl": 1}]))
    controller = Controller(sqlite_db.engine, settings)
    assert await controller.run_once() == [job_id]
    await eventually(started.exists, "the step to start")
    [busy] = store.resources(sqlite_db.engine, "slot")
    assert busy.owner == f"job/{job_id}" and busy.lease_id is not None
    # Someone else (an operator, `foredeck lease release`) gives the resource back.
    assert service.release(busy.lease_id, dirty=False)
    other = service.acquire("slot", owner="someone-else", ttl=60)
    await run_all(controller)

    job = get_job(sqlite_db, job_id)
    assert job.state == "error"
    assert job.description == (
        "lease slot-1 of type slot was lost: no longer held by this job (released by someone "
        "else, or taken back by the reaper after its TTL)"
    )
    assert not finished.exists()  # the step was stopped, not left to run on the resource
    [resource] = store.resources(sqlite_db.engine, "slot")
    assert (resource.state, resource.owner) == ("busy", "someone-else")  # not released by the job
    assert service.release(other)


async def test_the_wait_for_a_lease_does_not_count_against_the_jobs_timeout(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = slot_settings(tmp_path, sqlite_db)
    service = LeaseService(sqlite_db.engine, settings.leases)
    service.sync()
    other = service.acquire("slot", owner="someone", ttl=60)
    out = host_dir(tmp_path) / "ran"
    config = spec_config(
        f"touch {out}", leases=[{"type": "slot"}], decoration_config={"timeout": "3s"}
    )
    job_id = add_job(sqlite_db, "patient", config)
    controller = Controller(sqlite_db.engine, settings)
    assert await controller.run_once() == [job_id]

    def waiting() -> bool:
        return get_job(sqlite_db, job_id).description == "Waiting for a free slot lease."

    await eventually(waiting, "the job to wait for the slot")
    await asyncio.sleep(4)  # longer than the job's timeout, all of it waiting
    assert get_job(sqlite_db, job_id).state == "pending"
    service.release(other, dirty=False)
    await run_all(controller)

    job = get_job(sqlite_db, job_id)
    assert job.state == "success", job.description
    assert out.exists()


async def test_a_job_waits_for_its_leases_at_most_leases_job_wait(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = slot_settings(tmp_path, sqlite_db)
    settings.leases.job_wait = 1.5
    service = LeaseService(sqlite_db.engine, settings.leases)
    service.sync()
    other = service.acquire("slot", owner="someone", ttl=60)
    out = host_dir(tmp_path) / "ran"
    job_id = add_job(sqlite_db, "impatient", spec_config(f"touch {out}", leases=[{"type": "slot"}]))
    await run_all(Controller(sqlite_db.engine, settings))

    job = get_job(sqlite_db, job_id)
    assert job.state == "error"
    assert job.description == "no free slot lease within 1.5s (leases.job_wait)"
    assert not out.exists()
    [resource] = store.resources(sqlite_db.engine, "slot")
    assert resource.owner == "someone"  # still theirs
    assert service.release(other)


def test_a_killed_controller_leaves_its_lease_to_the_reaper(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = slot_settings(tmp_path, sqlite_db, heartbeat_interval=0.5)
    service = LeaseService(sqlite_db.engine, settings.leases)
    service.sync()
    started = host_dir(tmp_path) / "started"
    config = spec_config(f"touch {started}; sleep 5", leases=[{"type": "slot", "ttl": 2}])
    job_id = add_job(sqlite_db, "orphaned", config)
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_defaults=True)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
    command = [sys.executable, "-m", "foredeck.controller", "--config", str(path)]
    with open(tmp_path / "controller.log", "wb") as sink:
        child = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for("the step to start", started.exists, timeout=60)
        [busy] = store.resources(sqlite_db.engine, "slot")
        assert busy.state == "busy" and busy.owner == f"job/{job_id}"
    finally:
        child.kill()
        child.wait()

    def reaped() -> bool:
        service.maintain()
        return ended(sqlite_db, job_id) == ["expired"]

    wait_for("the reaper to take the lease back", reaped, timeout=30, interval=0.2)
    [resource] = store.resources(sqlite_db.engine, "slot")
    assert resource.state == "free"  # a static resource is cleaned back to free
