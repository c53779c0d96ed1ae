"""A real `foredeck serve` process pointed at the GitHub double, and a real git repository.

The server runs in a session of its own and every process it starts carries a marker in its
environment, or runs in its directory, so that teardown finds and kills all of them, including
steps orphaned by a SIGKILL of the server (the executor starts each step in a new session, out of
the server's group). Steps write what the tests read into `host_dir(tmp_path)`, the one host
directory bound into their sandbox.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
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
from tests.controller.helpers import host_dir
from tests.doubles.github_api import GitHubDouble
from tests.execute.helpers import processes_in
from tests.hook.helpers import SECRET, headers
from tests.hook.plugins.trigger_env import BOT, ORG, REPO
from tests.hook.server_proc import free_port

T = TypeVar("T")

MARKER_VAR = "E2E_SERVE_MARKER"
API_TOKEN = "e2e-token"
FINAL = frozenset({"success", "failure", "aborted", "error"})
# The commit status each final job state is reported as (docs/reporter.md).
STATUS_OF = {"success": "success", "failure": "failure", "aborted": "failure", "error": "error"}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Alice",
    "GIT_AUTHOR_EMAIL": "alice@example.com",
    "GIT_COMMITTER_NAME": "Alice",
    "GIT_COMMITTER_EMAIL": "alice@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
}


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


# --- the tested repository ---------------------------------------------------------------------


@dataclass
class GitRepo:
    """A non-bare repository with branch `main`; pull heads are `refs/pull/N/head`, as on
    GitHub. The controller clones it by path (the jobs' `clone_uri`)."""

    path: Path

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=GIT_ENV, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    @classmethod
    def create(cls, path: Path) -> GitRepo:
        path.mkdir(parents=True)
        repo = cls(path)
        repo.git("init", "-q", "-b", "main")
        repo.commit("main", {"README.md": "widget\n"}, "first")
        return repo

    def commit(self, branch: str, files: dict[str, str | None], message: str) -> str:
        """A commit on `branch` (created from main when new) writing (None: removing) files;
        returns its sha. The work tree is left on main."""
        exists = bool(self.git("branch", "--list", branch))
        if branch != "main":
            self.git("switch", "-q", branch) if exists else self.git("switch", "-q", "-c", branch)
        try:
            for name, content in files.items():
                target = self.path / name
                if content is None:
                    self.git("rm", "-q", name)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(content)
                    self.git("add", name)
            self.git("commit", "-q", "-m", message)
            return self.git("rev-parse", "HEAD")
        finally:
            if branch != "main":
                self.git("switch", "-q", "main")

    def push_pull_head(self, number: int, branch: str) -> str:
        """Point `refs/pull/NUMBER/head` at `branch`, as GitHub does on every push to a PR."""
        sha = self.git("rev-parse", branch)
        self.git("update-ref", f"refs/pull/{number}/head", sha)
        return sha

    def head(self, ref: str = "main") -> str:
        return self.git("rev-parse", ref)


def seed_github(gh: GitHubDouble, repo: GitRepo) -> None:
    """acme/widget with `main` at the real repository's main; alice is an acme member."""
    gh.add_repo(ORG, REPO, branches={"main": repo.head()})
    gh.add_org_member(ORG, "alice")
    gh.add_collaborator(ORG, REPO, BOT, "write")


# --- the server --------------------------------------------------------------------------------


@dataclass
class Server:
    """`foredeck serve --role all` as a subprocess; start it again after `kill()` on the same
    database and work directory, as a restarted machine would."""

    workdir: Path
    database_url: str
    gh: GitHubDouble
    jobs_yaml: str
    settings: dict[str, Any] = field(default_factory=dict)
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    fast_polls: bool = True
    """Poll every 0.2 s (tests); False keeps the product's defaults (benchmarks)."""
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        jobs = self.workdir / "jobs.yaml"
        jobs.write_text(self.jobs_yaml)
        fast = {"poll_interval": 0.2} if self.fast_polls else {}
        config: dict[str, Any] = {
            "database_url": self.database_url,
            "hook": {"secrets": [SECRET], "host": "127.0.0.1"},
            "github": {"base_url": self.gh.url, "token": self.gh.token},
            "config_path": str(jobs),
            "plugin_config": {
                "trigger": {"bot_login": BOT, "cache_dir": str(self.workdir / "cache")}
            },
            "worker": {**fast, "retry_backoff": 0.5} if self.fast_polls else {},
            "controller": {
                **({**fast, "heartbeat_interval": 1.0} if self.fast_polls else {}),
                "sandbox": {"bind": [str(host_dir(self.workdir.parent))]},
            },
            "reporter": fast,
            "periodics": {"tick": 0.2} if self.fast_polls else {},
            "api": {"token": API_TOKEN},
        }
        for section, values in self.settings.items():
            if isinstance(values, dict):
                config.setdefault(section, {}).update(values)
            else:
                config[section] = values
        return config

    def start(self, timeout: float = 60.0, log_level: str = "info") -> None:
        path = self.workdir / "foredeck.yaml"
        path.write_text(yaml.safe_dump(self.config()))
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
        env["PYTHONPATH"] = python_path()
        env[MARKER_VAR] = self.marker
        self.starts += 1
        self._log = (self.workdir / f"serve-{self.starts}.log").open("wb")
        argv = [sys.executable, "-m", "foredeck.cli", "serve", "--config", str(path)]
        argv += ["--port", str(self.port), "--log-level", log_level]
        self.proc = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"serve exited {self.proc.returncode}: {self.log()}"
            assert time.monotonic() < deadline, f"serve never became healthy: {self.log()}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)

    def log(self) -> str:
        logs = sorted(self.workdir.glob("serve-*.log"))
        return "".join(p.read_text(errors="replace") for p in logs)[-6000:]

    def kill(self) -> None:
        """SIGKILL the server alone: no shutdown code runs, as in a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def cleanup(self) -> None:
        """Kill the server's group and every process carrying our marker (orphaned steps)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for proc in self.leftovers():
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        self._close_log()

    def leftovers(self) -> list[psutil.Process]:
        """Processes other than the server that run with our marker in their environment, or
        in the server's directory (a job's steps get an allow-listed environment, without it)."""
        server = self.proc.pid if self.proc is not None else None
        found = {p.pid: p for p in processes_in(self.workdir) if p.pid != server}
        for proc in psutil.process_iter():
            try:
                if proc.pid != server and proc.environ().get(MARKER_VAR) == self.marker:
                    found[proc.pid] = proc
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return list(found.values())

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- talking to it ---------------------------------------------------------------------------

    def deliver(self, event: str, payload: dict[str, Any]) -> str:
        """A signed webhook delivery, as GitHub sends it; the hook must log it."""
        body = json.dumps(payload).encode()
        delivery = str(uuid.uuid4())
        r = httpx.post(
            f"{self.url}/hook", content=body, headers=headers(body, delivery, event), timeout=30
        )
        assert r.status_code in (200, 202), (r.status_code, r.text)
        return delivery

    def jobs(self, **params: Any) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.url}/api/jobs", params={"limit": 500, **params}, timeout=10)
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["jobs"]
        return sorted(found, key=lambda j: int(j["id"]))

    def job(self, job_id: int) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/api/jobs/{job_id}", timeout=10)
        assert r.status_code == 200, r.text
        detail: dict[str, Any] = r.json()
        return detail

    def finished(self, count: int, **params: Any) -> list[dict[str, Any]] | None:
        """The jobs matching `params` once there are `count` and all are final, else None."""
        found = self.jobs(**params)
        if len(found) == count and all(j["state"] in FINAL for j in found):
            return found
        return None


def status_history(gh: GitHubDouble, sha: str) -> dict[str, list[str]]:
    """Per context, the states of the statuses created on `sha`, in the order GitHub got them
    (the double's recorded requests)."""
    history: dict[str, list[str]] = {}
    for r in gh.requests:
        ours = r.operation_id == "repos/create-commit-status" and r.status == 201
        if ours and r.path.rsplit("/", 1)[-1] == sha:
            history.setdefault(r.body["context"], []).append(r.body["state"])
    return history


def report_comments(gh: GitHubDouble, number: int) -> list[str]:
    return [
        c.body
        for c in gh.comments(ORG, REPO, number)
        if c.user == BOT and "<!-- foredeck report -->" in c.body
    ]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
