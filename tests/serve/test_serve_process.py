"""`foredeck serve` as a real process: it comes up, answers, and exits cleanly on SIGTERM."""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
from typer.testing import CliRunner

from foredeck.cli import app
from foredeck.db import Job, make_engine, session_factory
from tests.kit.server import ServerProcess, serve
from tests.kit.wait import wait_for


def test_hook_role_serves_the_api_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = {
        "database_url": f"sqlite:///{tmp_path / 'fd.db'}",
        "hook": {"secrets": ["s"]},
        "api": {"token": "t"},
    }
    with serve(tmp_path, "hook", config) as server:
        assert httpx.get(f"{server.url}/api/jobs").json() == {"jobs": [], "next": None}
        assert httpx.post(f"{server.url}/api/jobs/1/abort").status_code == 401
        paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
        assert {"/hook", "/api/jobs", "/api/jobs/{job_id}"} <= set(paths)
        server.terminate()


def test_all_roles_on_embedded_defaults(tmp_path: Path) -> None:
    """Everything in one process on the embedded defaults: SQLite and artifacts under
    ./.foredeck, the local SCM provider (no GitHub)."""
    config = {"scm": {"provider": "local"}}
    with serve(tmp_path, "all", config) as server:
        assert httpx.get(f"{server.url}/api/jobs").json() == {"jobs": [], "next": None}
        assert (tmp_path / ".foredeck" / "foredeck.db").is_file()
        server.terminate()
    assert "Traceback" not in server.log(), server.log()


def test_bad_role_and_bad_settings_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_role = runner.invoke(app, ["serve", "--role", "nope"])
    assert bad_role.exit_code == 2 and "--role" in bad_role.stderr
    (tmp_path / "bad.yaml").write_text("database_url: [1, 2]\n")
    bad = runner.invoke(app, ["serve", "--config", str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 2 and "invalid settings" in bad.stderr


SLEEPY_JOBS = """\
periodics:
- name: sleepy
  interval: 240h
  spec: {containers: [{image: alpine, command: [sh, -c, "echo started; exec sleep 120"]}]}
"""


def test_sigterm_aborts_a_running_job_and_leaves_no_child(tmp_path: Path) -> None:
    """A job started through the API runs under the controller (a real `sleep` process); on
    SIGTERM the process ends it as aborted, and no child of the server survives."""
    (tmp_path / "jobs.yaml").write_text(SLEEPY_JOBS)
    config = {
        "scm": {"provider": "local"},
        "config_path": "jobs.yaml",
        "periodics": {"enabled": False},
        "controller": {"poll_interval": 0.2},
        "api": {"token": "t"},
    }
    with serve(tmp_path, "all", config) as server:
        started = httpx.post(
            f"{server.url}/api/jobs",
            json={"name": "sleepy"},
            headers={"Authorization": "Bearer t"},
            timeout=10,
        )
        assert started.status_code == 201, started.text
        job_id = started.json()["id"]

        def log_says_started() -> bool:
            r = httpx.get(f"{server.url}/api/jobs/{job_id}/log", timeout=10)
            return r.status_code == 200 and "started" in r.text

        wait_for("the job's log", log_says_started)
        shown = httpx.get(f"{server.url}/api/jobs/{job_id}").json()
        assert shown["state"] == "pending", shown

        def sleeping() -> list[psutil.Process]:  # "started" comes just before `exec sleep`
            children = psutil.Process(server.pid).children(recursive=True)
            return [p for p in children if p.name() == "sleep"]

        wait_for("the job's sleep", sleeping)
        sleepers = sleeping()
        assert len(sleepers) == 1
        server.terminate()
        assert not sleepers[0].is_running()
    engine = make_engine(f"sqlite:///{tmp_path / '.foredeck' / 'foredeck.db'}")
    try:
        with session_factory(engine)() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.state == "aborted"
    finally:
        engine.dispose()


def test_a_role_without_http_stops_on_sigterm(tmp_path: Path) -> None:
    config = {"database_url": f"sqlite:///{tmp_path / 'fd.db'}"}
    options = ("--role", "worker")
    server = ServerProcess(workdir=tmp_path, config=config, options=options, log_level="info")
    server.launch()
    try:

        def started() -> bool:
            assert server.proc is not None and server.proc.poll() is None, server.log()
            return "role worker: NotifyingWorker" in server.log()

        wait_for("the worker to start", started)
        server.terminate()
    finally:
        server.cleanup()
    assert "received SIGTERM: stopping" in server.log()


def test_abort_through_the_api_stops_the_running_process(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(SLEEPY_JOBS)
    config = {
        "scm": {"provider": "local"},
        "config_path": "jobs.yaml",
        "periodics": {"enabled": False},
        "controller": {"poll_interval": 0.2, "heartbeat_interval": 0.2},
        "api": {"token": "t"},
    }
    auth = {"Authorization": "Bearer t"}
    with serve(tmp_path, "all", config) as server:
        started = httpx.post(
            f"{server.url}/api/jobs", json={"name": "sleepy"}, headers=auth, timeout=10
        )
        job_id = started.json()["id"]

        def sleeping() -> list[psutil.Process]:
            children = psutil.Process(server.pid).children(recursive=True)
            return [p for p in children if p.name() == "sleep"]

        (sleeper,) = wait_for("the job's process", sleeping)
        aborted = httpx.post(f"{server.url}/api/jobs/{job_id}/abort", headers=auth, timeout=10)
        assert aborted.status_code == 200 and aborted.json()["state"] == "aborted"
        wait_for("the job's process to end", lambda: not sleeper.is_running())
        wait_for("the controller to let go", lambda: not sleeping())
        job = httpx.get(f"{server.url}/api/jobs/{job_id}", timeout=10).json()
        assert job["state"] == "aborted" and job["description"] == "Aborted through the API"
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        server.terminate()
