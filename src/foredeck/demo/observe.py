"""Reading foredeck's view as a client would: jobs through the JSON API, statuses and the report
comment through the SCM provider."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from foredeck.demo.options import FINAL_STATES, ORG, PR, REPO, DemoError
from foredeck.demo.server import Server

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from foredeck.settings import Settings

T = TypeVar("T")


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
