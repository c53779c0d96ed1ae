"""The browser tests' world: a real `foredeck serve` (SQLite, local SCM provider) whose database
is filled by running real jobs on a real git repository, never by hand-written rows.

- `acme/widget` is a local git repository; branch `pr/7` is pull request 7 (local provider), with
  two commits pushed one after the other, so PR history has two commit groups.
- `pass-job` and `fail-job` are presubmits (`always_run`) run by the watcher and trigger plugin
  on each head; `fail-job` runs the PR's `fail.sh`: ANSI colours, a long passing stretch, error
  lines, a `<script>` line and a JUnit file with one failed test in `$ARTIFACTS`.
- `pipeline-job` is an inline Tekton pipeline (a diamond and a `finally`), `slow-job` sleeps a
  few seconds (live update, abort); both are periodics on a yearly cron, started through
  `POST /api/jobs` (Prow's gangway).

Every process the server starts carries a marker in its environment; teardown kills the
server's group and every marked process (job steps run in sessions of their own).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import psutil
import yaml

from tests.child import python_path

T = TypeVar("T")

ORG, REPO, PR = "acme", "widget", 7
TOKEN = "browser-test-token"
MARKER_VAR = "BROWSER_TEST_MARKER"
FINAL = frozenset({"success", "failure", "aborted", "error"})
XSS = "<script>alert(1)</script>"
SLOW_SECONDS = 6
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Alice",
    "GIT_AUTHOR_EMAIL": "alice@example.com",
    "GIT_COMMITTER_NAME": "Alice",
    "GIT_COMMITTER_EMAIL": "alice@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
}

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="widget" tests="2">
    <testcase classname="widget" name="test_adds" time="0.25"/>
    <testcase classname="widget" name="test_divides" time="1.5">
      <failure message="ZeroDivisionError: division by zero">Traceback: divide(1, 0) blew up
      </failure>
    </testcase>
  </testsuite>
</testsuites>
"""

# The pull request's test script: what a contributor's failing test run prints.
FAIL_SH = f"""#!/bin/sh
printf '\\033[32mcompiling widget\\033[0m\\n'
i=1
while [ $i -le 40 ]; do echo "step $i ok"; i=$((i + 1)); done
echo 'ERROR: widget test failed'
echo '{XSS}'
cat > "$ARTIFACTS/junit_1.xml" <<'EOF'
{JUNIT}EOF
printf '\\033[31mFAIL\\033[0m widget\\n'
exit 1
"""


def _task(name: str, script: str) -> dict[str, Any]:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": name},
        "spec": {"steps": [{"name": "run", "image": "busybox", "script": script}]},
    }


# A diamond: prepare -> (left, right) -> join; finally: cleanup.
DIAMOND: list[dict[str, Any]] = [
    _task("prepare", "#!/bin/sh\necho preparing the diamond\n"),
    _task("left", "#!/bin/sh\necho left branch says hello\n"),
    _task("right", "#!/bin/sh\necho right branch says hello\n"),
    _task("join", "#!/bin/sh\necho joining both branches\n"),
    _task("cleanup", "#!/bin/sh\necho cleaning up\n"),
    {
        "apiVersion": "tekton.dev/v1",
        "kind": "Pipeline",
        "metadata": {"name": "diamond"},
        "spec": {
            "tasks": [
                {"name": "prepare", "taskRef": {"name": "prepare"}},
                {"name": "left", "taskRef": {"name": "left"}, "runAfter": ["prepare"]},
                {"name": "right", "taskRef": {"name": "right"}, "runAfter": ["prepare"]},
                {"name": "join", "taskRef": {"name": "join"}, "runAfter": ["left", "right"]},
            ],
            "finally": [{"name": "cleanup", "taskRef": {"name": "cleanup"}}],
        },
    },
]


def _container(command: list[str]) -> dict[str, Any]:
    return {"containers": [{"image": "busybox", "command": command}]}


YEARLY = "0 0 1 1 *"
"""Periodics that never fire during a test: they are started through the API."""

JOBS: dict[str, Any] = {
    "presubmits": {
        f"{ORG}/{REPO}": [
            {"name": "pass-job", "always_run": True, "spec": _container(["sh", "-c", "echo ok"])},
            {"name": "fail-job", "always_run": True, "spec": _container(["sh", "./fail.sh"])},
        ]
    },
    "periodics": [
        {"name": "pipeline-job", "cron": YEARLY, "pipeline": DIAMOND},
        {
            "name": "slow-job",
            "cron": YEARLY,
            "spec": _container(["sh", "-c", f"echo waiting; sleep {SLOW_SECONDS}; echo done"]),
        },
    ],
}


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@dataclass
class Jobs:
    """The finished runs the tests look at (JSON rows of `/api/jobs`)."""

    passed: dict[str, Any]
    failed: dict[str, Any]
    pipeline: dict[str, Any]
    heads: list[str]
    """The pull request's two heads, oldest first."""
    older_failed: dict[str, Any]


@dataclass
class Server:
    """`foredeck serve` (role all) on a free port, in its own session, cwd `workdir`."""

    workdir: Path
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def repo(self) -> Path:
        return self.workdir / "repos" / ORG / REPO

    def start(self, timeout: float = 60.0) -> None:
        (self.workdir / "jobs.yaml").write_text(yaml.safe_dump(JOBS, sort_keys=False))
        fast = {"poll_interval": 0.2}
        config = {
            "database_url": f"sqlite:///{self.workdir / 'foredeck.db'}",
            "scm": {"provider": "local", "local_root": "repos", "local_poll_interval": 0.2},
            "config_path": "jobs.yaml",
            "api": {"token": TOKEN},
            "worker": fast,
            "controller": {**fast, "max_concurrency": 4, "heartbeat_interval": 1.0},
            "reporter": fast,
            "periodics": {"tick": 0.2},
        }
        path = self.workdir / "foredeck.yaml"
        path.write_text(yaml.safe_dump(config))
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
        env["PYTHONPATH"] = python_path()
        env[MARKER_VAR] = self.marker
        self._log = (self.workdir / "serve.log").open("wb")
        argv = [sys.executable, "-m", "foredeck.cli", "serve", "--config", str(path)]
        argv += ["--port", str(self.port), "--log-level", "warning"]
        self.proc = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def healthy() -> bool:
            assert self.proc is not None
            assert self.proc.poll() is None, f"serve exited {self.proc.returncode}: {self.log()}"
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            return False

        wait_for("foredeck serve to be healthy", healthy, timeout)

    def log(self) -> str:
        path = self.workdir / "serve.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM (the controller aborts running jobs), SIGKILL after 15 s, then every process
        carrying our marker."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for left in self.leftovers():
            with contextlib.suppress(psutil.NoSuchProcess):
                left.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def leftovers(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get(MARKER_VAR) == self.marker:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    # -- the API -------------------------------------------------------------------------------

    def jobs(self, **params: Any) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.url}/api/jobs", params={"limit": 500, **params}, timeout=10)
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["jobs"]
        return found

    def job(self, job_id: int) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/api/jobs/{job_id}", timeout=10)
        assert r.status_code == 200, r.text
        detail: dict[str, Any] = r.json()
        return detail

    def start_job(self, name: str) -> dict[str, Any]:
        r = httpx.post(
            f"{self.url}/api/jobs",
            json={"name": name},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    def final(self, job_id: int, timeout: float = 60.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            job = self.job(job_id)
            return job if job["state"] in FINAL else None

        return wait_for(f"job {job_id} to finish ({self.log()[-1500:]})", done, timeout)

    def state(self, job_id: int, states: set[str], timeout: float = 60.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            job = self.job(job_id)
            return job if job["state"] in states else None

        return wait_for(f"job {job_id} to reach {sorted(states)}", reached, timeout)

    # -- filling the database by running jobs ---------------------------------------------------

    def presubmits_on(self, sha: str) -> list[dict[str, Any]] | None:
        """`pass-job` and `fail-job` on head `sha`, once both are final."""
        found: dict[str, dict[str, Any]] = {}
        for job in self.jobs(type="presubmit", pr=PR):
            if job["name"] in found:
                continue
            if self.job(int(job["id"]))["pulls"][0].get("sha") == sha:
                found[job["name"]] = job
        if set(found) != {"pass-job", "fail-job"}:
            return None
        if any(j["state"] not in FINAL for j in found.values()):
            return None
        return [found["pass-job"], found["fail-job"]]

    def _wait_presubmits(self, head: str) -> list[dict[str, Any]]:
        def done() -> list[dict[str, Any]] | None:
            return self.presubmits_on(head)

        return wait_for(f"the presubmits on {head} to finish", done, timeout=60)

    def fill(self) -> Jobs:
        """Run the jobs the pages show: two heads of PR 7 and the pipeline."""
        repo = self.repo
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        (repo / "README.md").write_text("widget\n")
        git(repo, "add", "README.md")
        git(repo, "commit", "-q", "-m", "first")
        pipeline = self.start_job("pipeline-job")
        heads: list[str] = []
        runs = []
        for n in (1, 2):
            # Commit on a detached HEAD, then move `pr/7` in one step: the watcher never sees
            # the branch at an in-between commit (which would start and supersede extra runs).
            git(repo, "switch", "-q", "--detach", heads[-1] if heads else "main")
            (repo / "fail.sh").write_text(FAIL_SH)
            (repo / "change.txt").write_text(f"change {n}\n")
            git(repo, "add", "fail.sh", "change.txt")
            git(repo, "commit", "-q", "-m", f"Change {n}")
            heads.append(git(repo, "rev-parse", "HEAD"))
            git(repo, "update-ref", f"refs/heads/pr/{PR}", heads[-1])
            git(repo, "switch", "-q", "main")
            runs.append(self._wait_presubmits(heads[-1]))
        return Jobs(
            passed=runs[1][0],
            failed=runs[1][1],
            older_failed=runs[0][1],
            pipeline=self.final(int(pipeline["id"])),
            heads=heads,
        )
