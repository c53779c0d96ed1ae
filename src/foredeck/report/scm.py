"""What the reporter needs of the SCM: commit statuses and comments, nothing else.

Declared here, beside its consumer (Prow's small interfaces): any provider's client satisfies
`ReportClient`, and a provider (`foredeck.scm.providers`) satisfies `ReportScm`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from foredeck.scm.github_types import CommitStatus, IssueComment, StatusState


class ReportClient(Protocol):
    async def close(self) -> None: ...

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


class ReportScm(Protocol):
    """The provider: clients, and who the reports are written as."""

    @property
    def bot_login(self) -> str | None: ...

    def client_factory(self) -> Callable[[], ReportClient]: ...
