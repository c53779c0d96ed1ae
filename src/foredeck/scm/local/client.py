"""`LocalScm`: the `ScmClient` of the local provider.

Pull requests come from branches (`local.pulls`), labels from their file (`local.labels`),
commit statuses and comments from foredeck's database (`local.state`); pull request writes
and branch pushes are `local.writes`. Blocking work (git, the
label file, database reads) runs in worker threads, so the event loop of the trigger or the
reporter never waits on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine

from foredeck.db.models import ScmComment
from foredeck.db.types import utcnow
from foredeck.scm.github_types import (
    MAX_FILE_BYTES,
    CommitStatus,
    IssueComment,
    Label,
    PullRequest,
    Review,
)
from foredeck.scm.links import DashboardLinks
from foredeck.scm.local.labels import ASSIGNEES_FILE, LABEL_COLOR, REVIEWERS_FILE, LabelStore
from foredeck.scm.local.merges import LocalMerges
from foredeck.scm.local.names import (
    LocalScmError,
    check_comment,
    check_login,
    check_name,
    check_sha,
    pr_branch,
)
from foredeck.scm.local.pulls import DEFAULT_LINKS, CommentRow, LocalPulls
from foredeck.scm.local.repos import LocalRepos
from foredeck.scm.local.state import ScmState, StatusRow, new_id
from foredeck.scm.local.writes import LocalPullWrites
from foredeck.scm.statuses import NewStatus, StatusSetter


class LocalScm(StatusSetter, LocalPullWrites, LocalMerges):
    """`ScmClient` over local repositories; statuses and comments in foredeck's database.

    Create one per event loop user, like `GitHubClient`; `close()` waits for queued writes.
    """

    def __init__(
        self,
        root: str | Path,
        engine: Engine,
        *,
        base_branch: str = "main",
        bot_login: str = "foredeck",
        labels_path: str | Path | None = None,
        links: DashboardLinks | None = None,
    ) -> None:
        repos = LocalRepos(root, base_branch)
        labels = LabelStore(Path(labels_path)) if labels_path else None
        self.pulls = LocalPulls(repos, links or DEFAULT_LINKS, labels)
        beside = self.pulls.labels.path.parent
        self.assignees = LabelStore(beside / ASSIGNEES_FILE)
        self.reviewers = LabelStore(beside / REVIEWERS_FILE)
        self.repos = repos
        self.bot_login = bot_login
        self.engine = engine
        self._state = ScmState(engine)

    def __repr__(self) -> str:
        return f"LocalScm(root={str(self.repos.root)!r})"

    async def close(self) -> None:
        await asyncio.to_thread(self._state.close)

    async def __aenter__(self) -> LocalScm:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every write of this client is committed (tests; shutdown)."""
        return self._state.flush(timeout)

    def clone_uri(self, org: str, repo: str) -> str:
        """For `foredeck.scm.git.checkout(clone_uri=...)`: the repository's path."""
        return self.repos.clone_uri(org, repo)

    # pull requests and trust

    async def get_pull(self, owner: str, repo: str, number: int) -> PullRequest:
        return await asyncio.to_thread(self.pulls.pull, owner, repo, number)

    async def list_pull_files(self, owner: str, repo: str, number: int) -> list[str]:
        pr = await self.get_pull(owner, repo, number)
        return await asyncio.to_thread(self.repos.diff_names, owner, repo, pr.base.sha, pr.head.sha)

    async def is_org_member(self, org: str, user: str) -> bool:
        check_name("org", org)
        return True  # your own disk: whoever can push here is one of us

    async def is_collaborator(self, owner: str, repo: str, user: str) -> bool:
        await asyncio.to_thread(self.repos.repo_dir, owner, repo)
        return True

    async def get_user_permission(self, owner: str, repo: str, user: str) -> str:
        await asyncio.to_thread(self.repos.repo_dir, owner, repo)
        return "write"

    # labels

    async def _require_issue(self, owner: str, repo: str, number: int) -> None:
        """An existing repository and a valid number. The branch may be gone: as on GitHub,
        a closed pull request keeps its comments and labels."""
        pr_branch(number)
        await asyncio.to_thread(self.repos.repo_dir, owner, repo)

    async def list_issue_labels(self, owner: str, repo: str, number: int) -> list[Label]:
        await self._require_issue(owner, repo, number)
        names = await asyncio.to_thread(self.pulls.labels.get, owner, repo, number)
        return [Label(name=n, color=LABEL_COLOR) for n in names]

    async def add_labels(
        self, owner: str, repo: str, number: int, labels: Sequence[str]
    ) -> list[Label]:
        if isinstance(labels, str):
            raise TypeError("labels must be a sequence of names, not one string")
        for name in labels:
            if not name.strip() or len(name) > 100:
                raise LocalScmError(422, f"invalid label {name!r}")
        await self._require_issue(owner, repo, number)
        update = self.pulls.labels.update
        names = await asyncio.to_thread(update, owner, repo, number, list(labels))
        return [Label(name=n, color=LABEL_COLOR) for n in names]

    async def remove_label(self, owner: str, repo: str, number: int, label: str) -> None:
        await self._require_issue(owner, repo, number)
        await asyncio.to_thread(self.pulls.labels.update, owner, repo, number, (), label)

    # assignees and review requests: anyone may be named (everyone here is one of us)

    async def _people(
        self,
        store: LabelStore,
        owner: str,
        repo: str,
        number: int,
        add: Sequence[str],
        remove: Sequence[str],
    ) -> list[str]:
        if isinstance(add, str) or isinstance(remove, str):
            raise TypeError("logins must be a sequence of names, not one string")
        for login in (*add, *remove):
            check_login(login)
        await self._require_issue(owner, repo, number)
        return await asyncio.to_thread(store.update, owner, repo, number, list(add), list(remove))

    async def add_assignees(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]:
        return await self._people(self.assignees, owner, repo, number, logins, ())

    async def remove_assignees(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]:
        return await self._people(self.assignees, owner, repo, number, (), logins)

    async def request_reviewers(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]:
        """As on GitHub, the author cannot be asked to review their own pull request (422)."""
        pr = await self.get_pull(owner, repo, number)
        if any(login.lower() == pr.user.login.lower() for login in logins):
            raise LocalScmError(422, "Review cannot be requested from pull request author.")
        return await self._people(self.reviewers, owner, repo, number, logins, ())

    async def remove_requested_reviewers(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]:
        return await self._people(self.reviewers, owner, repo, number, (), logins)

    # comments

    async def list_issue_comments(self, owner: str, repo: str, number: int) -> list[IssueComment]:
        await self._require_issue(owner, repo, number)
        where = (
            (ScmComment.org == owner) & (ScmComment.repo == repo) & (ScmComment.number == number)
        )
        rows = await asyncio.to_thread(self._state.comments, where)
        merged = [r for r in rows.values() if (r.org, r.repo, r.number) == (owner, repo, number)]
        merged.sort(key=lambda r: (r.created_at, r.id))
        return [self.pulls.comment(row) for row in merged]

    async def list_reviews(self, owner: str, repo: str, number: int) -> list[Review]:
        """Local repositories have no reviews: approvals are `/approve` and `/lgtm` comments."""
        await self._require_issue(owner, repo, number)
        return []

    async def create_comment(self, owner: str, repo: str, number: int, body: str) -> IssueComment:
        return await self.add_comment(owner, repo, number, body, self.bot_login)

    async def add_comment(
        self, owner: str, repo: str, number: int, body: str, author: str
    ) -> IssueComment:
        """A comment by `author` (`create_comment` comments as the bot)."""
        check_comment(body, author)
        await self._require_issue(owner, repo, number)
        now = utcnow()
        row = CommentRow(new_id(), owner, repo, number, author, body, now, now)
        self._state.add_comment(row)
        return self.pulls.comment(row)

    async def _get_comment(self, owner: str, repo: str, comment_id: int) -> CommentRow:
        check_name("org", owner)
        check_name("repository", repo)
        rows = await asyncio.to_thread(self._state.comments, ScmComment.id == int(comment_id))
        row = rows.get(int(comment_id))
        if row is None or (row.org, row.repo) != (owner, repo):
            raise LocalScmError(404, f"{owner}/{repo}: no comment {comment_id}")
        return row

    async def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> IssueComment:
        check_comment(body, self.bot_login)
        old = await self._get_comment(owner, repo, comment_id)
        row = replace(old, body=body, updated_at=utcnow())
        self._state.edit_comment(row)
        return self.pulls.comment(row)

    async def delete_comment(self, owner: str, repo: str, comment_id: int) -> None:
        """Delete a comment; one that is already gone is fine (as on GitHub's client)."""
        try:
            row = await self._get_comment(owner, repo, comment_id)
        except LocalScmError as exc:
            if exc.status == 404:
                return
            raise
        self._state.delete_comment(row.id)

    # statuses

    def _bot_status(self, row: StatusRow) -> CommitStatus:
        return CommitStatus(
            id=row.id,
            state=row.state,  # type: ignore[arg-type]  # validated on the way in
            context=row.context,
            description=row.description,
            target_url=row.target_url,
            creator=self.pulls.user(self.bot_login),
            created_at=row.updated_at,
        )

    async def set_status(self, owner: str, repo: str, sha: str, status: NewStatus) -> CommitStatus:
        """Set the status of its context on a commit (one row per context; the latest wins)."""
        check_sha(sha)
        if not await asyncio.to_thread(self.repos.commit_exists, owner, repo, sha):
            raise LocalScmError(422, f"{owner}/{repo}: no commit {sha}")
        rows = await asyncio.to_thread(self._state.statuses, owner, repo, sha)
        existing = rows.get(status.context)
        now = utcnow()
        row = StatusRow(
            id=existing.id if existing else new_id(),
            org=owner,
            repo=repo,
            sha=sha,
            context=status.context,
            state=status.state,
            description=status.description,
            target_url=status.target_url,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        self._state.set_status(row)
        return self._bot_status(row)

    async def list_commit_statuses(self, owner: str, repo: str, ref: str) -> list[CommitStatus]:
        """The status of each context on the commit `ref` names, newest first."""
        sha = await asyncio.to_thread(self.repos.resolve, owner, repo, ref)
        if sha is None:
            raise LocalScmError(404, f"{owner}/{repo}: no commit for {ref!r}")
        rows = await asyncio.to_thread(self._state.statuses, owner, repo, sha)
        return self._newest_first(rows.values())

    async def statuses_of(
        self, owner: str, repo: str, shas: Sequence[str]
    ) -> dict[str, list[CommitStatus]]:
        """The statuses of each commit in `shas`, in one query (the merge pool's)."""
        for sha in shas:
            check_sha(sha)
        found = await asyncio.to_thread(self._state.statuses_of, owner, repo, shas)
        return {sha: self._newest_first(rows.values()) for sha, rows in found.items()}

    def _newest_first(self, rows: Iterable[StatusRow]) -> list[CommitStatus]:
        ordered = sorted(rows, key=lambda r: (r.updated_at, r.id), reverse=True)
        return [self._bot_status(row) for row in ordered]

    # contents and refs

    async def get_file_content(
        self,
        owner: str,
        repo: str,
        path: str,
        ref: str | None = None,
        *,
        max_size: int = MAX_FILE_BYTES,
    ) -> bytes | None:
        """A file's bytes at `ref` (the base branch if None); None if there is no such file."""
        rev = ref or f"refs/heads/{self.repos.base_branch}"
        return await asyncio.to_thread(self.repos.read_file, owner, repo, path, rev, max_size)

    async def get_branch_sha(self, owner: str, repo: str, branch: str) -> str:
        sha = await asyncio.to_thread(self.repos.branch_sha, owner, repo, branch)
        if sha is None:
            raise LocalScmError(404, f"{owner}/{repo}: no branch {branch}")
        return sha
