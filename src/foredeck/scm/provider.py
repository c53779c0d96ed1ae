"""What every SCM provider offers: a client (`ScmClient`) and the provider itself (`ScmProvider`).

`GitHubClient` (GitHub's REST API) and `LocalScm` (repositories on disk, statuses and comments in
foredeck's database) both satisfy `ScmClient`; `GitHubProvider` and `LocalProvider` both satisfy
`ScmProvider`, which `foredeck.scm.providers.provider_from_settings` builds: the one place that
asks which SCM is configured. Values are the GitHub models of `foredeck.scm.github_types`,
whichever provider made them.

Components do not depend on these wide interfaces: each declares the narrow protocol of what it
uses beside itself (the reporter: statuses and comments), which these satisfy, composed from the
role protocols `IssueComments` (here) and `StatusWriter` (`foredeck.scm.statuses`) so that each
method is declared once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry

from foredeck.scm.branches import Checkout, CommitPeople
from foredeck.scm.github_types import CommitStatus, IssueComment, Label, PullRequest
from foredeck.scm.merges import PullMerges
from foredeck.scm.statuses import StatusWriter

if TYPE_CHECKING:
    from foredeck.scm.github import GitHubClient
    from foredeck.scm.local.client import LocalScm


class IssueComments(Protocol):
    """The comments of an issue or a pull request (the reporter's and the trigger's)."""

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


class IssueLabels(Protocol):
    """The labels of an issue or a pull request (the trigger's, the chat-op plugins')."""

    async def list_issue_labels(self, owner: str, repo: str, number: int) -> list[Label]: ...
    async def add_labels(
        self, owner: str, repo: str, number: int, labels: Sequence[str]
    ) -> list[Label]: ...
    async def remove_label(self, owner: str, repo: str, number: int, label: str) -> None: ...


class IssuePeople(Protocol):
    """Assignees and review requests; each call returns who is assigned / requested after it."""

    async def add_assignees(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]: ...
    async def remove_assignees(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]: ...
    async def request_reviewers(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]: ...
    async def remove_requested_reviewers(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]: ...


class PullWrites(Protocol):
    """Pull requests a bot opens from a branch it pushes (the CD bump, `foredeck.cd_pr`)."""

    async def list_open_pulls(
        self, owner: str, repo: str, head: str | None = None
    ) -> list[PullRequest]: ...
    async def create_pull(
        self, owner: str, repo: str, *, title: str, body: str, head: str, base: str
    ) -> PullRequest: ...
    async def update_pull(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
    ) -> PullRequest: ...
    async def list_pull_commits(self, owner: str, repo: str, number: int) -> list[CommitPeople]: ...
    async def checkout_tree(
        self, owner: str, repo: str, base: str, paths: list[str], dest: Path
    ) -> Checkout: ...


@runtime_checkable
class ScmClient(
    StatusWriter, IssueComments, IssueLabels, IssuePeople, PullWrites, PullMerges, Protocol
):
    """All a provider's client does; consumers declare the part they use."""

    async def close(self) -> None: ...

    # pull requests and trust
    async def get_pull(self, owner: str, repo: str, number: int) -> PullRequest: ...
    async def list_pull_files(self, owner: str, repo: str, number: int) -> list[str]: ...
    async def is_org_member(self, org: str, user: str) -> bool: ...
    async def is_collaborator(self, owner: str, repo: str, user: str) -> bool: ...
    async def get_user_permission(self, owner: str, repo: str, user: str) -> str: ...

    # statuses (`create_status`: `StatusWriter`), comments: `IssueComments`
    async def list_commit_statuses(self, owner: str, repo: str, ref: str) -> list[CommitStatus]: ...

    # contents and refs
    async def get_file_content(
        self, owner: str, repo: str, path: str, ref: str | None = None
    ) -> bytes | None: ...
    async def get_branch_sha(self, owner: str, repo: str, branch: str) -> str: ...


class WebLinks(Protocol):
    """Where people look at things of the SCM (`foredeck.scm.links`)."""

    def repo(self, org: str, repo: str) -> str: ...
    def pull(self, org: str, repo: str, number: int) -> str: ...
    def commit(self, org: str, repo: str, sha: str) -> str: ...
    def pull_commit(self, org: str, repo: str, number: int, sha: str) -> str: ...
    def user(self, login: str) -> str: ...


class Watcher(Protocol):
    """A provider's own source of events (the local provider scans its repositories)."""

    def start(self) -> Any: ...
    def stop(self, timeout: float = 30.0) -> None: ...


class UserComments(Protocol):
    """Comments by users typed into foredeck rather than into the SCM (the local provider)."""

    def comment(
        self,
        org: str,
        repo: str,
        number: int,
        body: str,
        author: str,
        *,
        on_logged: Callable[[], None] | None = None,
    ) -> IssueComment: ...


class ScmProvider(Protocol):
    """One SCM, as settings configure it."""

    @property
    def kind(self) -> str:
        """`github` or `local`, for messages."""
        ...

    @property
    def bot_login(self) -> str | None:
        """The login foredeck comments and reports as, when configured."""
        ...

    @property
    def pull_ref(self) -> str:
        """The fetchable ref of a pull request's head, a template with `{number}`."""
        ...

    @property
    def links(self) -> WebLinks: ...

    def clone_uri(self, org: str, repo: str) -> str:
        """Where to fetch `org/repo` from (when the job's refs do not say)."""
        ...

    def client_factory(self) -> Callable[[], ScmClient]:
        """A callable making a new client, each on the event loop that calls it (a client's
        connection pool binds to its loop). Credentials are read now: missing ones raise
        `ValueError` at start-up, not on the first event."""
        ...

    def watcher(
        self,
        *,
        on_logged: Callable[[], None] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> Watcher | None:
        """The provider's event source (a daemon thread), or None when events come by webhook."""
        ...

    def user_comments(self) -> UserComments | None:
        """Where users comment through foredeck, or None when they comment in the SCM."""
        ...


def _check_clients_are_scm_clients(github: GitHubClient, local: LocalScm) -> list[ScmClient]:
    return [github, local]  # mypy proves both clients satisfy the interface
