"""What the merge pool asks of the SCM: a narrow protocol that both providers' clients satisfy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from foredeck.scm.github_types import PullRequest
from foredeck.scm.merges import PullMerges
from foredeck.scm.provider import WebLinks
from foredeck.scm.statuses import StatusWriter


class TideClient(PullMerges, StatusWriter, Protocol):
    async def close(self) -> None: ...
    async def list_open_pulls(
        self, owner: str, repo: str, head: str | None = None
    ) -> list[PullRequest]: ...
    async def list_pull_files(self, owner: str, repo: str, number: int) -> list[str]: ...
    async def get_branch_sha(self, owner: str, repo: str, branch: str) -> str: ...


class TideScm(Protocol):
    """The provider: clients, the fetchable ref of a pull request, web links, and where to
    clone a repository from (for its in-repo config)."""

    @property
    def pull_ref(self) -> str: ...
    @property
    def links(self) -> WebLinks: ...
    def clone_uri(self, org: str, repo: str) -> str: ...
    def client_factory(self) -> Callable[[], TideClient]: ...
