"""Merging pull requests, the statuses of many heads at once, merge-blocking issues and review
approval: what
the merge pool (`foredeck.tide`) asks of an SCM, one protocol for every provider.

GitHub merges through its merge API (`github_merges`); the local provider merges with git on the
repositories on disk (`local/merges.py`). A merge the SCM refuses raises `GitHubError` with
GitHub's status: 405 (not mergeable: a conflict), 409 (the head moved since it was tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from foredeck.scm.github_types import CommitStatus, Review
from foredeck.types import MERGE_METHODS, MergeMethod

__all__ = ["MERGE_METHODS", "MergeMethod", "OpenIssue", "PullMerges"]


@dataclass(frozen=True, slots=True)
class OpenIssue:
    """An open issue (not a pull request) carrying a label, such as a merge blocker."""

    number: int
    title: str
    url: str


class PullMerges(Protocol):
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
        """Merge pull request `number` if its head is still `sha`; the new commit of the base."""
        ...

    async def statuses_of(
        self, owner: str, repo: str, shas: Sequence[str]
    ) -> dict[str, list[CommitStatus]]:
        """The statuses of each commit in `shas` (newest first, as `list_commit_statuses`)."""
        ...

    async def issues_labelled(self, owner: str, repo: str, label: str) -> list[OpenIssue]:
        """Open issues (not pull requests) of `owner/repo` carrying `label`."""
        ...

    async def list_reviews(self, owner: str, repo: str, number: int) -> list[Review]:
        """The pull request's reviews, oldest first (none on a local repository)."""
        ...

    async def review_approved(self, owner: str, repo: str, number: int) -> bool:
        """Whether a reviewer approved pull request `number` and none requests changes (each
        reviewer's latest approving, rejecting or dismissed review counts)."""
        ...
