"""The one interface every SCM provider offers: what trigger, reporter and controller need.

`GitHubClient` (GitHub's REST API) and `LocalScm` (repositories on disk, statuses and comments in
foredeck's database) both satisfy `ScmClient`, so the rest of foredeck never asks which one it
talks to. Values are the GitHub models of `foredeck.scm.github`, whichever provider made them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from foredeck.scm.github import (
    CommitStatus,
    GitHubClient,
    IssueComment,
    Label,
    PullRequest,
    StatusState,
)

__all__ = [
    "CommitStatus",
    "IssueComment",
    "Label",
    "PullRequest",
    "ScmClient",
    "StatusState",
]


@runtime_checkable
class ScmClient(Protocol):
    async def close(self) -> None: ...

    # pull requests and trust
    async def get_pull(self, owner: str, repo: str, number: int) -> PullRequest: ...
    async def list_pull_files(self, owner: str, repo: str, number: int) -> list[str]: ...
    async def is_org_member(self, org: str, user: str) -> bool: ...
    async def is_collaborator(self, owner: str, repo: str, user: str) -> bool: ...
    async def get_user_permission(self, owner: str, repo: str, user: str) -> str: ...

    # labels
    async def list_issue_labels(self, owner: str, repo: str, number: int) -> list[Label]: ...
    async def add_labels(
        self, owner: str, repo: str, number: int, labels: Sequence[str]
    ) -> list[Label]: ...
    async def remove_label(self, owner: str, repo: str, number: int, label: str) -> None: ...

    # comments
    async def list_issue_comments(
        self, owner: str, repo: str, number: int
    ) -> list[IssueComment]: ...
    async def create_comment(
        self, owner: str, repo: str, number: int, body: str
    ) -> IssueComment: ...
    async def edit_comment(
        self, owner: str, repo: str, comment_id: int, body: str
    ) -> IssueComment: ...
    async def delete_comment(self, owner: str, repo: str, comment_id: int) -> None: ...

    # statuses
    async def create_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        state: StatusState,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> CommitStatus: ...
    async def list_commit_statuses(self, owner: str, repo: str, ref: str) -> list[CommitStatus]: ...

    # contents and refs
    async def get_file_content(
        self, owner: str, repo: str, path: str, ref: str | None = None
    ) -> bytes | None: ...
    async def get_branch_sha(self, owner: str, repo: str, branch: str) -> str: ...


def _check_github_client_is_an_scm_client(client: GitHubClient) -> ScmClient:
    return client  # mypy proves the GitHub client satisfies the interface
