"""`make demo`: foredeck as a CI service on this machine, without GitHub, in under a minute.

The driver plays a developer against a real `foredeck serve` process on embedded defaults
(SQLite, local executor, `file://` artifacts, the local SCM provider), everything under one work
directory: it imports a sample repository, opens a pull request whose test fails, pushes a fix,
merges it, and prints what foredeck did at each step, reading the jobs through the JSON API (the
way any client would) and the statuses and report comment through `LocalScm` (the API does not
serve them). The server runs in its own process group and is always stopped at the end, on
success, on failure and on Ctrl-C, so the demo never leaves a process behind.

    python -m foredeck.demo [--workdir .foredeck/demo] [--keep-running]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlparse

import httpx
import yaml
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

ORG = "acme"
REPO = "calculator"
PR = 1
FINAL_STATES = frozenset({"success", "failure", "aborted", "error"})
MARKER = ".foredeck-demo"
"""Written into the work directory: only a directory holding it (or an empty one) is wiped."""
MARKER_TEXT = "made by python -m foredeck.demo, wiped by its next run; driver pid "
DEFAULT_WORKDIR = Path(".foredeck/demo")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "demo"
STEP_TIMEOUT = 45.0
"""Seconds one step (server start, a round of jobs) may take before the demo gives up."""
STOP_GRACE = 20.0
"""Seconds between SIGTERM and SIGKILL when stopping the server."""
DEVELOPER = ("Alice Developer", "alice@example.com")
MAINTAINER = ("Bob Maintainer", "bob@example.com")

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from foredeck.settings import Settings

T = TypeVar("T")


class DemoError(Exception):
    """The demo could not go on; the message says what was expected and where to look."""


class Interrupted(Exception):
    """SIGTERM (or SIGHUP) to the driver: unwind through every `finally`, like Ctrl-C."""


@dataclass(frozen=True)
class Options:
    """The command line: see `main`."""

    workdir: Path
    keep_running: bool = False
    port: int = 0
    examples: Path = EXAMPLES
    timeout: float = STEP_TIMEOUT


# --- the work directory and settings -----------------------------------------------------------


def prepare_workdir(workdir: Path) -> Path:
    """An empty `workdir` (absolute). A directory is wiped only if an earlier demo made it, so
    `--workdir` pointed at someone's files by mistake refuses instead of deleting them."""
    workdir = workdir.resolve()
    if workdir.exists():
        if not workdir.is_dir():
            raise DemoError(f"{workdir} exists and is not a directory")
        marker = workdir / MARKER
        if any(workdir.iterdir()) and not marker.is_file():
            raise DemoError(
                f"{workdir} is not empty and was not made by the demo ({MARKER} missing); "
                "choose another --workdir or remove it yourself"
            )
        owner = _marker_pid(marker)
        if owner is not None and owner != os.getpid() and _alive(owner):
            raise DemoError(
                f"{workdir} is in use by another demo (pid {owner}); stop it with Ctrl-C "
                "or choose another --workdir"
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).write_text(f"{MARKER_TEXT}{os.getpid()}\n")
    return workdir


def _marker_pid(marker: Path) -> int | None:
    try:
        text = marker.read_text()
    except OSError:
        return None
    tail = text.removeprefix(MARKER_TEXT).strip()
    return int(tail) if text.startswith(MARKER_TEXT) and tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def demo_settings(template: dict[str, Any], workdir: Path, port: int, token: str) -> dict[str, Any]:
    """The template (`examples/demo/foredeck.yaml`) with its paths under `workdir`.

    Paths are made absolute so that the settings file works from any directory and no component
    depends on the server's current directory.
    """
    s: dict[str, Any] = yaml.safe_load(yaml.safe_dump(template))  # a deep copy

    def under(value: str) -> str:
        return str(workdir / value)

    s["scm"]["local_root"] = under(s["scm"]["local_root"])
    s["database_url"] = "sqlite:///" + under(s["database_url"].removeprefix("sqlite:///"))
    s["config_path"] = under(s["config_path"])
    trigger = s["plugin_config"]["trigger"]
    trigger["cache_dir"] = under(trigger["cache_dir"])
    s["controller"]["workdir"] = under(s["controller"]["workdir"])
    s["controller"]["mirror_dir"] = under(s["controller"]["mirror_dir"])
    s["artifacts"]["url"] = (workdir / s["artifacts"]["url"].removeprefix("file://")).as_uri()
    s.setdefault("hook", {}).update(host="127.0.0.1", port=port)
    s.setdefault("reporter", {})["dashboard_url"] = f"http://127.0.0.1:{port}"
    s.setdefault("api", {})["token"] = token
    return s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- git -----------------------------------------------------------------------------------------


def git(cwd: Path, *args: str, who: tuple[str, str] = DEVELOPER) -> str:
    """Git with argv only, no user or system config, `who` as author and committer."""
    from foredeck.scm.gitrun import git_env

    env = git_env()
    name, email = who
    env.update(
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email,
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email,
    )
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DemoError(f"git {' '.join(args)} (in {cwd}) could not run: {exc}") from None
    if done.returncode != 0:
        raise DemoError(f"git {' '.join(args)} (in {cwd}) failed: {done.stderr.strip()}")
    return done.stdout.strip()


def copy_tree(src: Path, dst: Path) -> None:
    """Copy files over `dst`, keeping the executable bits (`test.sh` is run as `./test.sh`)."""
    if not src.is_dir():
        raise DemoError(f"{src}: missing (pass --examples DIR: the examples/demo folder)")
    # `copy`, not `copy2`: a fresh mtime, or git may take a same-sized file for unchanged.
    shutil.copytree(src, dst, dirs_exist_ok=True, copy_function=shutil.copy)


def commit_all(cwd: Path, message: str, who: tuple[str, str] = DEVELOPER) -> str:
    git(cwd, "add", "-A", who=who)
    git(cwd, "commit", "-q", "-m", message, who=who)
    return git(cwd, "rev-parse", "HEAD")


# --- the server ----------------------------------------------------------------------------------


class Server:
    """`foredeck serve` as a child process in its own process group, output in `log_path`.

    Its own group: the terminal's Ctrl-C reaches only the driver, which then stops the server
    in order (SIGTERM lets the controller abort running jobs and wait for their processes).
    """

    def __init__(self, config: Path, port: int, log_path: Path, cwd: Path) -> None:
        self.config = config
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.cwd = cwd
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
        argv = [sys.executable, "-m", "foredeck.cli", "serve", "--config", str(self.config)]
        argv += ["--port", str(self.port), "--log-level", "warning"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                raise DemoError(f"foredeck serve exited with status {code}:\n{self.log_tail()}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise DemoError(f"foredeck serve not healthy after {timeout:.0f} s")
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM, SIGKILL to its group after `grace`; then no process of it is left.

        Returns the exit status (None if it was never started).
        """
        proc = self.proc
        if proc is None:
            return None
        descendants = _descendants(proc.pid)
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _killpg(proc.pid)
                proc.wait(10)
        _killpg(proc.pid)  # anything left in its group
        for kill in descendants:  # job steps run in process groups of their own
            kill()
        return proc.returncode


def _killpg(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _descendants(pid: int) -> list[Callable[[], None]]:
    """A way to kill each of the process's descendants, when psutil (a dev dependency) is there
    to tell. psutil's `kill` checks the process's identity first, so a reused pid is safe."""
    try:
        import psutil
    except ImportError:
        return []

    def killer(proc: psutil.Process) -> Callable[[], None]:
        def kill() -> None:
            with suppress(psutil.Error):
                proc.kill()

        return kill

    try:
        return [killer(p) for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


# --- reading foredeck's view -------------------------------------------------------------------


class Api:
    """The JSON API, as `foredeck jobs` uses it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)
        self._sha: dict[int, str | None] = {}

    def close(self) -> None:
        self.http.close()

    def jobs(self, **params: Any) -> list[dict[str, Any]]:
        response = self.http.get("/api/jobs", params={"limit": 100, **params})
        response.raise_for_status()
        jobs: list[dict[str, Any]] = response.json()["jobs"]
        return jobs

    def job(self, job_id: int) -> dict[str, Any]:
        response = self.http.get(f"/api/jobs/{job_id}")
        response.raise_for_status()
        job: dict[str, Any] = response.json()
        return job

    def tested_sha(self, job: dict[str, Any]) -> str | None:
        """The commit a job tests: its pull's head (presubmit) or `base_sha` (postsubmit).
        Listings do not carry it; details are fetched once per job."""
        job_id = int(job["id"])
        if job_id not in self._sha:
            detail = self.job(job_id)
            pulls = detail.get("pulls") or []
            self._sha[job_id] = pulls[0].get("sha") if pulls else detail.get("base_sha")
        return self._sha[job_id]

    def runs(self, job_type: str, sha: str, names: set[str], **params: Any) -> list[dict[str, Any]]:
        """The newest run of each of `names` on `sha`, once every one of them is final."""
        latest: dict[str, dict[str, Any]] = {}
        for job in self.jobs(repo=f"{ORG}/{REPO}", type=job_type, **params):  # newest first
            name = job["name"]
            if name in names and name not in latest and self.tested_sha(job) == sha:
                latest[name] = job
        if set(latest) != names or any(j["state"] not in FINAL_STATES for j in latest.values()):
            return []
        return sorted(latest.values(), key=lambda j: str(j["name"]))


@dataclass(frozen=True)
class ScmView:
    statuses: list[tuple[str, str, str]]
    """(context, state, description) on the commit."""
    report: str | None
    """The body of foredeck's report comment on the pull request, if there is one."""


def read_scm(settings: Settings, engine: Engine, sha: str) -> ScmView:
    """Statuses on `sha` and the report comment on the pull request, through the local SCM
    provider's client (it only reads here, without SQLite's write lock)."""
    from foredeck.scm.providers import provider_from_settings

    new_client = provider_from_settings(settings, engine).client_factory()

    async def read() -> ScmView:
        scm = new_client()
        try:
            statuses = await scm.list_commit_statuses(ORG, REPO, sha)
            comments = await scm.list_issue_comments(ORG, REPO, PR)
        finally:
            await scm.close()
        report = next(
            (c.body for c in comments if "<!-- foredeck report -->" in c.body),
            None,
        )
        rows = sorted((s.context, str(s.state), s.description or "") for s in statuses)
        return ScmView(rows, report)

    return asyncio.run(read())


def wait_for(what: str, check: Callable[[], T | None], timeout: float, server: Server) -> T:
    """Poll `check` until it returns something truthy; a dead server or the deadline fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if server.proc is not None and server.proc.poll() is not None:
            raise DemoError(f"foredeck serve died while waiting for {what}:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            raise DemoError(
                f"timed out after {timeout:.0f} s waiting for {what}; "
                f"server log {server.log_path}:\n{server.log_tail()}"
            )
        time.sleep(0.2)


# --- printing ------------------------------------------------------------------------------------

STATE_STYLE = {"success": "green", "failure": "red", "error": "red", "aborted": "yellow"}


def build_dir(job: dict[str, Any], artifacts: Path) -> Path | None:
    """The job's build directory in the demo's `file://` store `artifacts`, in Prow's layout
    (the API's `url` links the dashboard: it shows no server paths)."""
    from foredeck.storage.layout import job_path

    if not job.get("build_id"):
        return None
    try:
        rel = job_path(
            job["type"],
            job.get("org"),
            job.get("repo"),
            job.get("pull_number"),
            job["name"],
            job["build_id"],
        )
    except ValueError:
        return None
    return artifacts / rel


def duration(job: dict[str, Any]) -> str:
    if not job.get("started_at") or not job.get("finished_at"):
        return "-"
    seconds = (
        datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    ).total_seconds()
    return f"{seconds:.1f}s"


def jobs_table(title: str, jobs: Sequence[dict[str, Any]], workdir: Path, artifacts: Path) -> Table:
    """The jobs, each with its build log in the store `artifacts`, relative to `workdir`."""
    table = Table(title=title, title_justify="left")
    for column in ("id", "job", "type", "state", "duration"):
        table.add_column(column, no_wrap=True)
    table.add_column("build log (under the workdir)", overflow="fold")
    for job in jobs:
        state = str(job["state"])
        where = build_dir(job, artifacts)
        log = "-"
        if where is not None:
            log = str(_relative(where / "build-log.txt", workdir))
        table.add_row(
            str(job["id"]),
            str(job["name"]),
            str(job["type"]),
            f"[{STATE_STYLE.get(state, 'white')}]{state}[/]",
            duration(job),
            escape(log),
        )
    return table


def statuses_table(title: str, view: ScmView) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("context", "status", "description"):
        table.add_column(column)
    for context, state, description in view.statuses:
        table.add_row(context, f"[{STATE_STYLE.get(state, 'white')}]{state}[/]", description)
    return table


def _relative(path: Path, base: Path) -> Path:
    try:
        return path.relative_to(base)
    except ValueError:
        return path


def log_excerpt(job: dict[str, Any], artifacts: Path, pattern: str, limit: int = 8) -> str:
    where = build_dir(job, artifacts)
    if where is None:
        return ""
    try:
        lines = (where / "build-log.txt").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join([line for line in lines if pattern in line][:limit])


# --- the story -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobNames:
    presubmits: set[str]
    postsubmits: set[str]


def job_names(in_repo_config: Path) -> JobNames:
    """The jobs the sample repository declares: what each step waits for."""
    data = yaml.safe_load(in_repo_config.read_text()) or {}
    presubmits = {str(j["name"]) for j in data.get("presubmits", []) if j.get("always_run")}
    postsubmits = {str(j["name"]) for j in data.get("postsubmits", [])}
    if not presubmits or not postsubmits:
        raise DemoError(f"{in_repo_config}: needs always_run presubmits and a postsubmit")
    return JobNames(presubmits, postsubmits)


class Demo:
    def __init__(self, options: Options, console: Console) -> None:
        self.options = options
        self.console = console
        self.workdir = prepare_workdir(options.workdir)
        self.repo = self.workdir / "repos" / ORG / REPO
        self.clone = self.workdir / "clone"
        self.settings_path = self.workdir / "foredeck.yaml"
        port = options.port or free_port()
        self.server = Server(self.settings_path, port, self.workdir / "serve.log", self.workdir)
        self.api = Api(self.server.url)
        self.names = job_names(options.examples / "repo" / ".foredeck.yaml")
        self._db: tuple[Settings, Engine] | None = None
        self.artifacts = self.workdir / "artifacts"
        """The `file://` artifact store (set from the settings written by `setup`)."""

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def jobs_table(self, title: str, jobs: Sequence[dict[str, Any]]) -> Table:
        return jobs_table(title, jobs, self.workdir, self.artifacts)

    def step(self, number: int, title: str) -> None:
        self.console.rule(f"[bold]{number}. {title}")

    def setup(self) -> None:
        examples = self.options.examples
        template = yaml.safe_load((examples / "foredeck.yaml").read_text())
        settings = demo_settings(
            template, self.workdir, self.server.port, secrets.token_urlsafe(24)
        )
        self.artifacts = Path(unquote(urlparse(settings["artifacts"]["url"]).path))
        fd = os.open(self.settings_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:  # it holds the API token
            yaml.safe_dump(settings, out, sort_keys=False)
        shutil.copy(examples / "jobs.yaml", self.workdir / "jobs.yaml")
        self.repo.mkdir(parents=True)
        copy_tree(examples / "repo", self.repo)
        git(self.repo, "init", "-q", "-b", "main", who=MAINTAINER)
        commit_all(self.repo, "Import the calculator", who=MAINTAINER)
        git(self.workdir, "clone", "-q", str(self.repo), str(self.clone))

    def run(self) -> None:
        self.start()
        failed = self.open_failing_pull()
        self.push_fix(failed)
        self.merge()
        self.step(5, "Where to look")
        self.where_to_look(failed[0])

    def wait(self, what: str, check: Callable[[], T | None]) -> T:
        return wait_for(what, check, self.options.timeout, self.server)

    def start(self) -> None:
        self.step(1, "Start foredeck")
        self.setup()
        self.server.start(self.options.timeout)
        pid = self.server.proc.pid if self.server.proc else "?"
        self.say(
            f"foredeck serve is up at [bold]{self.server.url}[/] (pid {pid}), "
            f"settings {self.settings_path}, log {self.server.log_path}"
        )
        self.say(f"The dashboard: [bold]{self.server.url}/[/]")
        main_sha = git(self.repo, "rev-parse", "main")
        self.say(
            f"Sample repository [bold]{ORG}/{REPO}[/] at {self.repo}; main is {main_sha[:7]}. "
            "The watcher sees main for the first time: a push, so the postsubmit runs."
        )
        first = self.wait(
            "the postsubmit of the first commit",
            lambda: self.api.runs("postsubmit", main_sha, self.names.postsubmits),
        )
        self.console.print(self.jobs_table("postsubmit on main", first))

    def open_failing_pull(self) -> list[dict[str, Any]]:
        """Returns the presubmits that failed."""
        self.step(2, f"Open pull request #{PR} (branch pr/{PR}) with a failing test")
        copy_tree(self.options.examples / "changes" / "1-broken", self.clone)
        head = commit_all(self.clone, "Add multiplication\n\nWith tests in tests/mul.cases.")
        git(self.clone, "push", "-q", "origin", f"HEAD:refs/heads/pr/{PR}")
        self.say(
            f"pushed {head[:7]} to pr/{PR}; waiting for presubmits {sorted(self.names.presubmits)}"
        )
        failed = self.wait(
            "the presubmits of the pull request",
            lambda: self.api.runs("presubmit", head, self.names.presubmits, pr=PR),
        )
        self.console.print(self.jobs_table(f"presubmits on {head[:7]}", failed))
        bad = [j for j in failed if j["state"] != "success"]
        if not bad:
            raise DemoError("expected a presubmit to fail on the broken commit; all passed")
        for job in bad:
            self.say(f"[red]{job['name']} failed[/]; from its build log:")
            self.say(escape(log_excerpt(job, self.artifacts, "FAIL") or "(no FAIL lines)"))
        view = self.wait(
            "the failure report on the pull request",
            lambda: self._reported(head, want_report=True),
        )
        self.console.print(statuses_table(f"commit statuses on {head[:7]}", view))
        self.console.print(
            Panel(escape(_visible(view.report or "")), title="report comment on the pull request")
        )
        return bad

    def push_fix(self, bad: list[dict[str, Any]]) -> None:
        self.step(3, "Push a fix to the pull request")
        copy_tree(self.options.examples / "changes" / "2-fix", self.clone)
        fixed = commit_all(self.clone, "Fix multiplication")
        git(self.clone, "push", "-q", "origin", f"HEAD:refs/heads/pr/{PR}")
        self.say(f"pushed {fixed[:7]} to pr/{PR}")
        passed = self.wait(
            "the presubmits of the fix",
            lambda: self.api.runs("presubmit", fixed, self.names.presubmits, pr=PR),
        )
        self.console.print(self.jobs_table(f"presubmits on {fixed[:7]}", passed))
        still = [j["name"] for j in passed if j["state"] != "success"]
        if still:
            raise DemoError(f"expected every presubmit to pass after the fix: {still} did not")
        view = self.wait(
            "the report comment to go away",
            lambda: self._reported(fixed, want_report=False),
        )
        self.console.print(statuses_table(f"commit statuses on {fixed[:7]}", view))
        names = ", ".join(sorted(j["name"] for j in bad))
        self.say(f"[green]{names} now passes[/]; the failure report comment is gone.")

    def merge(self) -> None:
        self.step(4, f"Merge pull request #{PR} (fast-forward main)")
        git(self.repo, "merge", "-q", "--ff-only", f"pr/{PR}", who=MAINTAINER)
        git(self.repo, "branch", "-q", "-d", f"pr/{PR}", who=MAINTAINER)
        merged = git(self.repo, "rev-parse", "main")
        post = self.wait(
            "the postsubmit of the merge",
            lambda: self.api.runs("postsubmit", merged, self.names.postsubmits),
        )
        self.console.print(self.jobs_table(f"postsubmit on main {merged[:7]}", post))
        if any(j["state"] != "success" for j in post):
            raise DemoError("expected the postsubmit of the merge to pass")

    def where_to_look(self, failed: dict[str, Any]) -> None:
        url = self.server.url
        cli = ["jobs", "--server", url, "list", "--repo", f"{ORG}/{REPO}"]
        self.say(f"$ foredeck {' '.join(cli)}")
        listing = subprocess.run(
            [sys.executable, "-m", "foredeck.cli", *cli],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "COLUMNS": str(self.console.width)},
            check=False,
        )
        self.console.print(escape(listing.stdout.rstrip() or listing.stderr.rstrip()))
        artifacts = self.artifacts
        failed_dir = build_dir(failed, artifacts)
        lines = [
            f"artifacts (Prow layout): {artifacts}/pr-logs/pull/{ORG}_{REPO}/{PR}/JOB/BUILD/"
            f" and {artifacts}/logs/JOB/BUILD/",
        ]
        if failed_dir is not None:
            files = sorted(p.name for p in failed_dir.iterdir() if not p.name.startswith("."))
            lines += [
                f"the failed run of {failed['name']}: {failed_dir}/",
                f"  holds {', '.join(files)}",
                f"  its build log: {failed_dir / 'build-log.txt'}",
            ]
        keep = (
            ""
            if self.options.keep_running
            else " (while it runs: make demo DEMO_ARGS=--keep-running)"
        )
        lines += [
            f"dashboard: {url}/ (the failed run: {url}/view/{failed['id']}){keep}",
            f"JSON API: {url}/api/jobs, OpenAPI {url}/docs",
            f"CLI: foredeck jobs --server {url} list | show ID | logs ID",
            f"server log: {self.server.log_path}",
            f"settings: {self.settings_path} (API token inside)",
        ]
        for line in lines:
            self.console.print(escape(line), soft_wrap=True, highlight=False)

    def _reported(self, sha: str, want_report: bool) -> ScmView | None:
        """The SCM's view once every status on `sha` is final and the report is (not) there."""
        if self._db is None:
            from foredeck.db.engine import make_engine
            from foredeck.settings import load_settings

            settings = load_settings(self.settings_path, environ={})
            self._db = (settings, make_engine(settings.database_url))
        view = read_scm(*self._db, sha)
        contexts = {c for c, state, _ in view.statuses if state != "pending"}
        if not self.names.presubmits <= contexts or (view.report is not None) != want_report:
            return None
        return view

    def close(self) -> int | None:
        self.api.close()
        if self._db is not None:
            self._db[1].dispose()
        return self.server.stop()


def _visible(comment: str) -> str:
    """The comment without its HTML (marker, collapsed help): what a reader sees first."""
    lines = []
    for line in comment.splitlines():
        if line.startswith("<details>"):
            break
        if not line.startswith("<!--"):
            lines.append(line)
    return "\n".join(lines).strip()


@contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so the server is stopped either way."""

    def raise_interrupted(signum: int, _frame: types.FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    old = {s: signal.signal(s, raise_interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextmanager
def _uninterruptible() -> Iterator[None]:
    """Cleanup must finish: a second Ctrl-C would otherwise leave the server running."""
    old = {
        s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def run_demo(options: Options, console: Console | None = None) -> int:
    """Run the demo; 0 when it went as described (or was interrupted), 1 otherwise."""
    console = console or Console()
    started = time.monotonic()
    demo: Demo | None = None
    status = 0
    with _signals_as_interrupts():
        try:
            demo = Demo(options, console)
            demo.run()
            console.print(f"\n[bold green]Demo done in {time.monotonic() - started:.0f} s.[/]")
            if options.keep_running:
                console.print(
                    f"foredeck keeps serving at {demo.server.url}; press Ctrl-C to stop it."
                )
                while demo.server.proc is not None and demo.server.proc.poll() is None:
                    time.sleep(0.5)
        except (KeyboardInterrupt, Interrupted):
            console.print("\ninterrupted: stopping foredeck")
        except (DemoError, httpx.HTTPError, OSError) as exc:
            console.print(f"[bold red]demo failed:[/] {escape(str(exc))}")
            status = 1
        finally:
            if demo is not None:
                with _uninterruptible():
                    code = demo.close()
                console.print(f"foredeck serve stopped (exit status {code}).")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m foredeck.demo",
        description="foredeck as a CI service on this machine: a pull request, a fix, a merge.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="where everything goes; wiped first if an earlier demo made it (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="keep foredeck serving until Ctrl-C"
    )
    parser.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    parser.add_argument(
        "--examples", type=Path, default=EXAMPLES, help="the demo's files (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=STEP_TIMEOUT,
        help="seconds per step (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    options = Options(
        workdir=args.workdir,
        keep_running=args.keep_running,
        port=args.port,
        examples=args.examples,
        timeout=args.timeout,
    )
    return run_demo(options)


if __name__ == "__main__":
    sys.exit(main())
