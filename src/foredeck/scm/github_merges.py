"""The merge pool's calls on GitHub (`scm.merges.PullMerges`): the merge API, commit statuses
of many heads, issues with a label. A mixin of `GitHubClient`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from foredeck.scm.github_http import GitHubHttp, parse, repo_path, segment
from foredeck.scm.github_types import CommitStatus, GitHubError, Issue
from foredeck.scm.merges import MergeMethod, OpenIssue

STATUS_CONCURRENCY = 8
"""Status listings in flight at once for `statuses_of`."""


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
                return sha, await self.list_commit_statuses(owner, repo, sha)

        return dict(await asyncio.gather(*(one(sha) for sha in dict.fromkeys(shas))))

    async def issues_labelled(self, owner: str, repo: str, label: str) -> list[OpenIssue]:
        path = f"{repo_path(owner, repo)}/issues"
        found = []
        async for item in self._api.paginate(path, {"state": "open", "labels": label}):
            issue = parse(Issue, item)
            if not issue.is_pull_request:
                url = item.get("html_url", "") if isinstance(item, dict) else ""
                found.append(OpenIssue(issue.number, issue.title, str(url)))
        return found
