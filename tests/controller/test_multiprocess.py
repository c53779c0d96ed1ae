"""Two `foredeck serve --role controller` processes on one PostgreSQL: each job runs once."""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from sqlalchemy import func, select

from foredeck.db import Job, session_factory
from foredeck.db.jobs import JobCreate, create_job
from tests.controller.helpers import host_dir, spec_config
from tests.db.fixtures import Database
from tests.execute.helpers import max_overlap

JOBS = 300
LIMITED = {"limited-a": 2, "limited-b": 2}


def queue_jobs(db: Database, log: Path) -> dict[int, str]:
    names: dict[int, str] = {}
    with session_factory(db.engine).begin() as session:
        for i in range(JOBS):
            if i % 5 == 0:
                name = "limited-a" if i % 10 == 0 else "limited-b"
                config = spec_config(f"echo $PROW_JOB_ID >> {log}; sleep 0.02", max_concurrency=2)
            else:
                name = f"fast-{i % 7}"
                step = "true" if i % 2 else "sleep 0.01"
                config = spec_config(f"echo $PROW_JOB_ID >> {log}; {step}")
            job, _ = create_job(
                session, JobCreate(name=name, type="periodic", job_config={"name": name, **config})
            )
            names[job.id] = name
    return names


def unfinished(db: Database) -> int:
    with session_factory(db.engine)() as session:
        stmt = select(func.count()).select_from(Job).where(Job.state.in_(["triggered", "pending"]))
        return int(session.execute(stmt).scalar_one())


FOREDECK = [sys.executable, "-m", "foredeck.cli"]  # the `foredeck` console script


def test_two_controller_processes_run_each_job_once(pg_db: Database, tmp_path: Path) -> None:
    log = host_dir(tmp_path) / "ran.txt"
    names = queue_jobs(pg_db, log)
    config = tmp_path / "settings.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": pg_db.url,
                "controller": {
                    "max_concurrency": 4,
                    "parallel": 1,
                    "poll_interval": 0.1,
                    "heartbeat_interval": 1.0,
                    "workdir": str(tmp_path / "runs"),
                    "mirror_dir": str(tmp_path / "mirrors"),
                    "sandbox": {"bind": [str(host_dir(tmp_path))]},
                },
                "artifacts": {"url": f"file://{tmp_path / 'artifacts'}"},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
    outputs = [tmp_path / f"controller-{n}.log" for n in range(2)]
    procs = []
    for output in outputs:
        with open(output, "wb") as sink:
            procs.append(
                subprocess.Popen(
                    [
                        *FOREDECK,
                        "serve",
                        "--role",
                        "controller",
                        "--config",
                        str(config),
                    ],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
    try:
        deadline = time.monotonic() + 90
        while unfinished(pg_db) and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), "a controller exited early"
            time.sleep(0.2)
        assert unfinished(pg_db) == 0, "jobs left unfinished at the deadline"
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=30) for proc in procs]
    assert codes == [0, 0], [o.read_text()[-2000:] for o in outputs]

    ran = collections.Counter(log.read_text().split())
    assert set(ran) == {str(job_id) for job_id in names}, ran.most_common(3)
    assert set(ran.values()) == {1}, ran.most_common(3)
    with session_factory(pg_db.engine)() as session:
        jobs = list(session.execute(select(Job)).scalars())
    assert {job.state for job in jobs} == {"success"}
    assert len({job.build_id for job in jobs}) == JOBS
    for name, limit in LIMITED.items():
        spans = [
            (job.started_at.timestamp(), job.finished_at.timestamp())
            for job in jobs
            if job.name == name and job.started_at and job.finished_at
        ]
        assert len(spans) == JOBS // 10
        assert max_overlap(spans) <= limit
    first = min(job.started_at for job in jobs if job.started_at)
    last = max(job.finished_at for job in jobs if job.finished_at)
    print(f"{JOBS} jobs in {(last - first).total_seconds():.1f} s")
    # Both processes took part.
    done = [len(re.findall(r"job \d+ \(.*\): success", o.read_text())) for o in outputs]
    assert sum(done) == JOBS and min(done) > 0, done
