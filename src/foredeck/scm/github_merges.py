"""The merge pool's calls on GitHub (`scm.merges.PullMerges`): the merge API, commit statuses
of many heads, issues with a label. A mixin of `GitHubClient`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from foredeck.scm.github_http import GitHubHttp, parse, repo_path, segment
from foredeck.scm.github_types import (
    CheckRun,
    CommitStatus,
    GitHubError,
    Issue,
    Review,
    StatusState,
)
from foredeck.scm.merges import MergeMethod, OpenIssue

STATUS_CONCURRENCY = 8
"""Status listings in flight at once for `statuses_of`."""
CHECK_RUNS_PAGE = 100
_CONCLUSIONS: dict[str | None, StatusState] = {
    "success": "success",
    "neutral": "success",
    "skipped": "success",
    "failure": "failure",
    "cancelled": "failure",
    "timed_out": "failure",
    "action_required": "failure",
    "stale": "pending",
}


def check_status(run: CheckRun) -> CommitStatus:
    """A check run as a commit status: completed ones by their conclusion, the rest (queued,
    in progress: a rerun too) pending."""
    done = run.status == "completed"
    state = _CONCLUSIONS.get(run.conclusion, "pending") if done else "pending"
    detail = f"check run {run.status}" + (f": {run.conclusion}" if run.conclusion else "")
    return CommitStatus(
        id=run.id,
        state=state,
        context=run.name,
        description=detail,
        target_url=run.details_url,
        created_at=run.completed_at or run.started_at or datetime.now(UTC),
    )


class GitHubMerges:
    _api: GitHubHttp

    if TYPE_CHECKING:  # GitHubClient's

        async def list_commit_statuses(
            self, owner: str, repo: str, ref: str
        ) -> list[CommitStatus]: ...

    async def merge_pull(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        sha: str,
        method: MergeMethod = "merge",
        title: str | None = None,
    ) -> str:
        """`PUT /repos/{owner}/{repo}/pulls/{n}/merge`: GitHub answers 405 when the pull
        request cannot be merged and 409 when its head is no longer `sha`."""
        body: dict[str, Any] = {"sha": segment(sha, "sha"), "merge_method": method}
        if title:
            body["commit_title"] = title
        path = f"{repo_path(owner, repo)}/pulls/{int(number)}/merge"
        data = (await self._api.call("PUT", path, body=body)).json()
        merged = data.get("sha") if isinstance(data, dict) else None
        if not isinstance(merged, str) or not data.get("merged"):
            raise GitHubError(200, f"pull request #{number} was not merged", method="PUT")
        return merged

    async def statuses_of(
        self, owner: str, repo: str, shas: Sequence[str]
    ) -> dict[str, list[CommitStatus]]:
        limit = asyncio.Semaphore(STATUS_CONCURRENCY)

        async def one(sha: str) -> tuple[str, list[CommitStatus]]:
            async with limit:
                statuses = await self.list_commit_statuses(owner, repo, sha)
                return sha, [*await self.check_runs(owner, repo, sha), *statuses]

        return dict(await asyncio.gather(*(one(sha) for sha in dict.fromkeys(shas))))

    async def check_runs(self, owner: str, repo: str, sha: str) -> list[CommitStatus]:
        """The latest check run of each name on commit `sha` (GitHub Actions and other apps),
        as statuses: completed ones by their conclusion, the rest `pending` (a rerun too).
        The first 100 runs; a commit with more is judged on those."""
        path = f"{repo_path(owner, repo)}/commits/{segment(sha, 'sha')}/check-runs"
        data = (await self._api.call("GET", path, params={"per_page": CHECK_RUNS_PAGE})).json()
        runs = data.get("check_runs") if isinstance(data, dict) else None
        return [check_status(parse(CheckRun, run)) for run in runs or []]

    async def list_reviews(self, owner: str, repo: str, number: int) -> list[Review]:
        """The pull request's reviews, oldest first."""
        path = f"{repo_path(owner, repo)}/pulls/{int(number)}/reviews"
        return [parse(Review, item) async for item in self._api.paginate(path)]

    async def review_approved(self, owner: str, repo: str, number: int) -> bool:
        latest: dict[str, str] = {}
        for review in await self.list_reviews(owner, repo, number):
            state = review.state.upper()
            if state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
                latest[review.user.login.lower()] = state
        states = set(latest.values())
        return "APPROVED" in states and "CHANGES_REQUESTED" not in states

    async def issues_labelled(self, owner: str, repo: str, label: str) -> list[OpenIssue]:
        path = f"{repo_path(owner, repo)}/issues"
        found = []
        async for item in self._api.paginate(path, {"state": "open", "labels": label}):
            issue = parse(Issue, item)
            if not issue.is_pull_request:
                url = item.get("html_url", "") if isinstance(item, dict) else ""
                found.append(OpenIssue(issue.number, issue.title, str(url)))
        return found
