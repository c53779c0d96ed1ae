"""`foredeck serve` pointed at the GitHub double, and what the tests read back from GitHub.

The server is the kit's `ServerProcess` (tests/kit/server.py: its own session, a marker, all its
processes killed at teardown) with settings for GitHub, the trigger plugin and fast polls. Steps
write what the tests read into `host_dir(tmp_path)`, the one host directory bound into their
sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.controller.helpers import host_dir
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.hook.plugins.trigger_env import BOT, ORG, REPO, pr_payload
from tests.kit.git import Repo
from tests.kit.jobs import shell
from tests.kit.server import ServerProcess
from tests.kit.wait import wait_for
from tests.kit.webhooks import SECRET, deliver

API_TOKEN = "e2e-token"
# The commit status each final job state is reported as (docs/reporter.md).
STATUS_OF = {"success": "success", "failure": "failure", "aborted": "failure", "error": "error"}


def widget_repo(path: Path) -> Repo:
    """The tested repository: `main` with a README; the controller clones it by path."""
    return Repo(path, {"README.md": "widget\n"})


def seed_github(gh: GitHubDouble, repo: Repo) -> None:
    """acme/widget with `main` at the real repository's main; alice is an acme member."""
    gh.add_repo(ORG, REPO, branches={"main": repo.head("main")})
    gh.add_org_member(ORG, "alice")
    gh.add_collaborator(ORG, REPO, BOT, "write")


@dataclass(kw_only=True)
class Server(ServerProcess):
    """`foredeck serve --role all` on GitHub (the double) with `jobs_yaml`; `overrides` replace
    or extend sections of its settings."""

    database_url: str
    gh: GitHubDouble
    jobs_yaml: str
    overrides: dict[str, Any] = field(default_factory=dict)
    fast_polls: bool = True
    """Poll every 0.2 s (tests); False keeps the product's defaults (benchmarks)."""
    log_level: str = "info"
    api_token: str | None = API_TOKEN

    def settings(self) -> dict[str, Any]:
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
        for section, values in self.overrides.items():
            if isinstance(values, dict):
                config.setdefault(section, {}).update(values)
            else:
                config[section] = values
        return config

    def deliver(self, event: str, payload: dict[str, Any]) -> str:
        """A signed webhook delivery, as GitHub sends it; the hook must log it."""
        return deliver(self.url, event, payload)


def status_history(gh: GitHubDouble, sha: str) -> dict[str, list[str]]:
    """Per context, the states of the statuses created on `sha`, in the order GitHub got them
    (the double's recorded requests)."""
    history: dict[str, list[str]] = {}
    for r in gh.requests:
        ours = r.operation_id == "repos/create-commit-status" and r.status == 201
        if ours and r.path.rsplit("/", 1)[-1] == sha:
            history.setdefault(r.body["context"], []).append(r.body["state"])
    return history


def final_statuses(
    gh: GitHubDouble, sha: str, context: str, state: str | None = None
) -> dict[str, list[str]]:
    """`status_history` once the latest status of `context` is final (is `state`, if given)."""

    def reached() -> dict[str, list[str]] | None:
        history = status_history(gh, sha)
        latest = history.get(context, ["pending"])[-1]
        return history if latest == state or (state is None and latest != "pending") else None

    return wait_for(f"a final {context} status on {sha}", reached)


def report_comments(gh: GitHubDouble, number: int) -> list[str]:
    return [
        c.body
        for c in gh.comments(ORG, REPO, number)
        if c.user == BOT and "<!-- foredeck report -->" in c.body
    ]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# --- job configs and pull requests ------------------------------------------------------------


def presubmit(name: str, repo: Repo, script: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "always_run": True,
        "clone_uri": str(repo.path),
        "spec": shell(script),
        **extra,
    }


def job_config(**sections: list[dict[str, Any]]) -> str:
    """`jobs.yaml` with the given sections; all but periodics are for acme/widget."""
    config: dict[str, Any] = {}
    for kind, jobs in sections.items():
        config[kind] = jobs if kind == "periodics" else {f"{ORG}/{REPO}": jobs}
    return yaml.safe_dump(config)


ServerFactory = Callable[..., Server]


@dataclass
class E2E:
    """A test's world: GitHub (the double) knowing the repository, the host directory steps
    write to, and servers started on demand (on SQLite unless given another database)."""

    gh: GitHubDouble
    repo: Repo
    host: Path
    sqlite_db: Database
    make_server: ServerFactory

    def serve(self, jobs_yaml: str, database: Database | None = None, **settings: Any) -> Server:
        return self.make_server(database or self.sqlite_db, jobs_yaml, **settings)

    def open_pull(self, server: Server, number: int, files: dict[str, str | None]) -> str:
        """Commit `files` as pull request `number`, open it on GitHub and send `opened`; the
        head sha."""
        head = self.repo.pull(number, files, f"change {number}")
        self.gh.add_pull(ORG, REPO, number, author="alice", head_sha=head, files=list(files))
        base = self.repo.head()
        payload = pr_payload("opened", number, author="alice", head_sha=head, base_sha=base)
        server.deliver("pull_request", payload)
        return head
