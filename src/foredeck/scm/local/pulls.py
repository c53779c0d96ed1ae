"""The local repositories as GitHub objects: users, repositories, pull requests and comments.

What `LocalScm` returns and what the watcher's webhook payloads carry are the same GitHub
models (`scm.github_types`) as on GitHub, so the trigger and the reporter never ask which SCM
they talk to. Their web links (`html_url`) are foredeck's dashboard pages (`scm.links`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from foredeck.scm.github_types import (
    IssueComment,
    Label,
    PullBranch,
    PullRequest,
    Repository,
    User,
)
from foredeck.scm.links import DashboardLinks
from foredeck.scm.local.labels import LABEL_COLOR, LABELS_FILE, LabelStore
from foredeck.scm.local.names import LocalScmError, pr_branch, pr_number
from foredeck.scm.local.pullmeta import PULLS_FILE, PullMeta, PullMetaStore
from foredeck.scm.local.repos import CommitInfo, LocalRepos
from foredeck.settings import ReporterSettings

DEFAULT_LINKS = DashboardLinks(ReporterSettings().dashboard_url)
"""The dashboard at its default address, for clients made without settings (tests)."""


@dataclass(frozen=True, slots=True)
class CommentRow:
    """A pull request comment as the `scm_comments` table keeps it."""

    id: int
    org: str
    repo: str
    number: int
    author: str
    body: str
    created_at: datetime
    updated_at: datetime


def user_id(login: str) -> int:
    """A stable id derived from the login (GitHub's ids are numbers)."""
    digest = hashlib.sha256(login.lower().encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class LocalPulls:
    """Pull requests from `pr/N` branches (`repos`), with their labels (`labels`) and links."""

    def __init__(
        self, repos: LocalRepos, links: DashboardLinks, labels: LabelStore | None = None
    ) -> None:
        self.repos = repos
        self.links = links
        self.labels = labels or LabelStore(repos.root / LABELS_FILE)
        self.meta = PullMetaStore(repos.root / PULLS_FILE)

    @classmethod
    def at(
        cls, root: str | Path, base_branch: str = "main", links: DashboardLinks = DEFAULT_LINKS
    ) -> LocalPulls:
        """The pull requests of the repositories under `root`, labels in their default file."""
        return cls(LocalRepos(root, base_branch), links)

    def user(self, login: str, kind: str = "User") -> User:
        return User(login=login, id=user_id(login), html_url=self.links.user(login), type=kind)

    def repository(self, org: str, repo: str) -> Repository:
        repo_dir = self.repos.repo_dir(org, repo)
        return Repository(
            name=repo,
            full_name=f"{org}/{repo}",
            owner=self.user(org, "Organization"),
            private=True,
            html_url=self.links.repo(org, repo),
            clone_url=str(repo_dir),
            default_branch=self.repos.base_branch,
        )

    def pull(
        self, org: str, repo: str, number: int, labels: Sequence[str] | None = None
    ) -> PullRequest:
        """Pull request `number`: the branch `pr/N`, open while it exists. Its labels are read
        from the label file unless given; its title and body are those of its first commit,
        or those recorded when it was opened through the API (`local.pullmeta`)."""
        repos = self.repos
        branch = pr_branch(number)
        head = repos.branch_sha(org, repo, branch)
        if head is None:
            raise LocalScmError(
                404, f"{org}/{repo}: no pull request #{number} (no branch {branch})"
            )
        base = self._base(org, repo)
        own = repos.commits(org, repo, [f"{base}..{head}"])
        first = own[0] if own else repos.commit(org, repo, head)
        last = own[-1] if own else first
        if labels is None:
            labels = self.labels.get(org, repo, number)
        meta = self.meta.get(org, repo, number)
        return self._build(org, repo, number, (head, base), (first, last), labels, meta)

    def open_pulls(self, org: str, repo: str) -> list[PullRequest]:
        """Every open pull request of `ORG/REPO`, newest first, as `pull` makes each: with a
        fixed number of git calls and file reads however many there are."""
        repos = self.repos
        branches = repos.branches(org, repo)
        heads = {n: sha for b, sha in branches.items() if (n := pr_number(b)) is not None}
        if not heads:
            return []
        base = branches.get(repos.base_branch) or self._base(org, repo)
        graph = repos.first_parents(org, repo, sorted(set(heads.values())), base)
        labels, metas = self.labels.of_repo(org, repo), self.meta.of_repo(org, repo)
        repository, users = self.repository(org, repo), dict[str, User]()
        found = []
        for number in sorted(heads, reverse=True):
            head = heads[number]
            last = first = graph[head][0] if head in graph else repos.commit(org, repo, head)
            parent = graph[head][1] if head in graph else None
            while parent in graph:
                first, parent = graph[parent]
            own = (first, last)
            pair = (head, base)
            meta = metas.get(number)
            user = users.get(first.login) or users.setdefault(first.login, self.user(first.login))
            names = labels.get(number, [])
            found.append(self._build(org, repo, number, pair, own, names, meta, (repository, user)))
        return found

    def _base(self, org: str, repo: str) -> str:
        base = self.repos.branch_sha(org, repo, self.repos.base_branch)
        if base is None:
            raise LocalScmError(404, f"{org}/{repo}: no base branch {self.repos.base_branch}")
        return base

    def _build(
        self,
        org: str,
        repo: str,
        number: int,
        shas: tuple[str, str],
        own: tuple[CommitInfo, CommitInfo],
        labels: Sequence[str],
        meta: PullMeta | None,
        made: tuple[Repository, User] | None = None,
    ) -> PullRequest:
        """The pull request at `shas` (head, base) whose own commits run from `own` (first,
        last); `meta` when it was opened through the API (its own title); `made`: its
        repository and author when the caller has them already."""
        (head, base), (first, last) = shas, own
        branch, base_branch = pr_branch(number), self.repos.base_branch
        repository, author = made or (self.repository(org, repo), self.user(first.login))
        return PullRequest(
            number=number,
            state="open",
            title=meta.title if meta else first.subject,
            body=(meta.body if meta else first.message.partition("\n")[2].strip()) or None,
            user=author,
            head=PullBranch(ref=branch, sha=head, label=f"{org}:{branch}", repo=repository),
            base=PullBranch(
                ref=base_branch, sha=base, label=f"{org}:{base_branch}", repo=repository
            ),
            labels=[Label(name=name, color=LABEL_COLOR) for name in labels],
            html_url=self.links.pull(org, repo, number),
            author_association="MEMBER",
            created_at=first.time,
            updated_at=last.time,
        )

    def comment(self, row: CommentRow) -> IssueComment:
        return IssueComment(
            id=row.id,
            body=row.body,
            user=self.user(row.author),
            html_url=self.links.pull(row.org, row.repo, row.number),
            author_association="MEMBER",
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
