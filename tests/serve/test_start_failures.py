"""A start that cannot work fails at once, with one line and status 2, and touches no job:
a busy port (checked before the database is opened) and a database that cannot be reached,
for every role of `foredeck serve` and for `python -m foredeck.hook|controller`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml

from foredeck.db import Job, make_engine, migrate, session_factory
from foredeck.db.jobs import JobCreate, create_job
from foredeck.serve.roles import ROLES
from tests.child import python_path

UNREACHABLE_PG = "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/test"
"""Nothing listens on port 1: the connection is refused at once."""
SHOWN_PG = "postgresql+psycopg://postgres:***@127.0.0.1:1/test"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port someone else listens on (as a first `foredeck serve` would)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


def run(
    workdir: Path, argv: list[str], config: Mapping[str, object]
) -> subprocess.CompletedProcess[str]:
    (workdir / "foredeck.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
    env["PYTHONPATH"] = python_path()
    return subprocess.run(
        [sys.executable, *argv, "--config", "foredeck.yaml"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The whole output of a failed start: exactly one line."""
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout + result.stderr
    return lines[0]


def queued_job(url: str) -> int:
    engine = make_engine(url)
    try:
        migrate(engine)
        spec = JobCreate(name="nightly", type="periodic", job_config={"name": "nightly"})
        with session_factory(engine).begin() as session:
            return create_job(session, spec)[0].id
    finally:
        engine.dispose()


def job_row(url: str, job_id: int) -> Job:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            job = session.get(Job, job_id)
            assert job is not None
            return job
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["-m", "foredeck.cli", "serve", "--role", "all"], "foredeck serve: "),
        (["-m", "foredeck.cli", "serve", "--role", "hook"], "foredeck serve: "),
        (["-m", "foredeck.hook"], "foredeck hook: "),
    ],
)
def test_a_busy_port_fails_before_any_job_is_touched(
    tmp_path: Path, busy_port: int, argv: list[str], prefix: str
) -> None:
    url = f"sqlite:///{tmp_path / 'fd.db'}"
    job_id = queued_job(url)
    config = {
        "database_url": url,
        "scm": {"provider": "local", "local_root": str(tmp_path / "repos")},
        "hook": {"secrets": ["s"]},
        "controller": {"poll_interval": 0.05, "workdir": str(tmp_path / "runs")},
    }
    result = run(tmp_path, [*argv, "--port", str(busy_port)], config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert one_line(result) == (
        f"{prefix}cannot listen on 127.0.0.1:{busy_port}: Address already in use"
    )
    job = job_row(url, job_id)
    assert (job.state, job.owner, job.started_at, job.description) == (
        "triggered",
        None,
        None,
        None,
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("role", ROLES)
def test_an_unreachable_database_is_one_line_and_status_2_for_every_role(
    tmp_path: Path, role: str
) -> None:
    config = {
        "database_url": UNREACHABLE_PG,
        "scm": {"provider": "local", "local_root": str(tmp_path / "repos")},
    }
    argv = ["-m", "foredeck.cli", "serve", "--role", role]
    if role in ("all", "hook"):
        argv += ["--port", "0"]
    result = run(tmp_path, argv, config)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line(result)
    assert line.startswith(
        "foredeck serve: database postgresql+psycopg://postgres:***@127.0.0.1:1/test: "
    )
    assert "Connection refused" in line and "hunter2" not in line


@pytest.mark.parametrize(
    ("module", "prefix"),
    [("foredeck.hook", "foredeck hook: "), ("foredeck.controller", "foredeck controller: ")],
)
def test_an_unreachable_database_stops_the_single_component_entry_points(
    tmp_path: Path, module: str, prefix: str
) -> None:
    config = {"database_url": UNREACHABLE_PG, "hook": {"secrets": ["s"]}}
    argv = ["-m", module] + (["--port", "0"] if module == "foredeck.hook" else [])
    result = run(tmp_path, argv, config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert one_line(result).startswith(f"{prefix}database {SHOWN_PG}: ")


def test_a_sqlite_file_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    config = {"database_url": "sqlite:////proc/foredeck-nowhere/fd.db"}
    result = run(tmp_path, ["-m", "foredeck.cli", "serve", "--role", "worker"], config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert one_line(result).startswith(
        "foredeck serve: database sqlite:////proc/foredeck-nowhere/fd.db: "
    )
