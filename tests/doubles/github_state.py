"""State of the fake GitHub, and the GitHub-shaped JSON built from it.

State is plain dataclasses that tests seed and inspect; the JSON builders fill in every field
GitHub's schemas require (URLs, node ids, timestamps) so that responses pass the contract check.
Each object has an `extra` dict merged last into its JSON, to add or corrupt fields on purpose.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

HTML_BASE = "https://github.com"
FileStatus = Literal["added", "removed", "modified", "renamed", "copied", "changed", "unchanged"]
StatusStateName = Literal["error", "failure", "pending", "success"]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")


def blob_sha(content: bytes) -> str:
    """Git's blob id, as GitHub reports in `sha` for contents and blobs."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


@dataclass
class UserState:
    login: str
    id: int
    type: str = "User"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LabelState:
    name: str
    id: int
    color: str = "ededed"
    description: str | None = None
    default: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FileChange:
    """One entry of a pull request's changed files."""

    filename: str
    status: FileStatus = "modified"
    previous_filename: str | None = None
    additions: int = 1
    deletions: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CommentState:
    id: int
    issue_number: int
    user: str
    body: str
    created_at: float
    updated_at: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class StatusState:
    id: int
    sha: str
    state: StatusStateName
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class IssueState:
    """An issue or, with `pull` set, a pull request (they share GitHub's numbering)."""

    number: int
    id: int
    title: str
    user: str
    body: str | None = None
    state: Literal["open", "closed"] = "open"
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    pull: PullState | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PullState:
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    files: list[FileChange] = field(default_factory=list)
    head_owner: str | None = None
    """Owner of the head repository (a fork); None means the base repository."""
    draft: bool = False
    merged: bool = False
    mergeable: bool | None = True
    mergeable_state: str = "clean"
    author_association: str = "CONTRIBUTOR"
    requested_reviewers: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RepoState:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    """Branch name -> head commit sha."""
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    """(ref, path) -> content; ref is a branch name or a commit sha."""
    labels: dict[str, LabelState] = field(default_factory=dict)
    issues: dict[int, IssueState] = field(default_factory=dict)
    comments: dict[int, CommentState] = field(default_factory=dict)
    statuses: list[StatusState] = field(default_factory=list)
    collaborators: dict[str, str] = field(default_factory=dict)
    """Login -> permission (`admin`, `maintain`, `write`, `triage`, `read`)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class AppState:
    app_id: int
    public_key_pem: bytes
    slug: str


@dataclass
class InstallationState:
    id: int
    app_id: int
    account: str
    created_at: float
    permissions: dict[str, str] = field(
        default_factory=lambda: {
            "contents": "read",
            "issues": "write",
            "members": "read",
            "pull_requests": "write",
            "statuses": "write",
            "metadata": "read",
        }
    )


@dataclass
class TokenState:
    """An access token the double accepts: a user token, or an installation token."""

    login: str
    installation_id: int | None = None
    expires_at: float | None = None


class JsonBuilder:
    """Turns state into GitHub's JSON, with URLs rooted at the double's address."""

    def __init__(self, api_url: str, users: dict[str, UserState]) -> None:
        self.api = api_url.rstrip("/")
        self.users = users

    def user(self, login: str) -> dict[str, Any]:
        state = self.users[login]
        api, html = f"{self.api}/users/{login}", f"{HTML_BASE}/{login}"
        out: dict[str, Any] = {
            "login": login,
            "id": state.id,
            "node_id": node_id("U", state.id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{state.id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": html,
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": state.type,
            "site_admin": False,
            "user_view_type": "public",
        }
        out.update(state.extra)
        return out

    def repo_url(self, repo: RepoState) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def repository(self, repo: RepoState) -> dict[str, Any]:
        api, html = self.repo_url(repo), f"{HTML_BASE}/{repo.full_name}"
        templated = {
            "archive": "/{archive_format}{/ref}",
            "assignees": "{/user}",
            "blobs": "{/sha}",
            "branches": "{/branch}",
            "collaborators": "{/collaborator}",
            "comments": "{/number}",
            "commits": "{/sha}",
            "compare": "{base}...{head}",
            "contents": "/{+path}",
            "contributors": "",
            "deployments": "",
            "downloads": "",
            "events": "",
            "forks": "",
            "git_commits": "{/sha}",
            "git_refs": "{/sha}",
            "git_tags": "{/sha}",
            "hooks": "",
            "issue_comment": "{/number}",
            "issue_events": "{/number}",
            "issues": "{/number}",
            "keys": "{/key_id}",
            "labels": "{/name}",
            "languages": "",
            "merges": "",
            "milestones": "{/number}",
            "notifications": "{?since,all,participating}",
            "pulls": "{/number}",
            "releases": "{/id}",
            "stargazers": "",
            "statuses": "/{sha}",
            "subscribers": "",
            "subscription": "",
            "tags": "",
            "teams": "",
            "trees": "{/sha}",
        }
        path_of = {"issue_comment": "issues/comments", "issue_events": "issues/events"}
        out: dict[str, Any] = {
            f"{key}_url": f"{api}/{path_of.get(key, key.replace('git_', 'git/'))}{suffix}"
            for key, suffix in templated.items()
        }
        open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
        out.update(
            {
                "id": repo.id,
                "node_id": node_id("R", repo.id),
                "name": repo.name,
                "full_name": repo.full_name,
                "owner": self.user(repo.owner),
                "private": repo.private,
                "visibility": "private" if repo.private else "public",
                "html_url": html,
                "description": None,
                "fork": False,
                "url": api,
                "git_url": f"git://github.com/{repo.full_name}.git",
                "ssh_url": f"git@github.com:{repo.full_name}.git",
                "clone_url": f"{html}.git",
                "svn_url": html,
                "mirror_url": None,
                "homepage": None,
                "language": None,
                "forks": 0,
                "forks_count": 0,
                "stargazers_count": 0,
                "watchers": 0,
                "watchers_count": 0,
                "size": 0,
                "default_branch": repo.default_branch,
                "open_issues": open_issues,
                "open_issues_count": open_issues,
                "is_template": False,
                "topics": [],
                "has_issues": True,
                "has_projects": True,
                "has_wiki": True,
                "has_pages": False,
                "has_downloads": True,
                "archived": False,
                "disabled": False,
                "license": None,
                "pushed_at": iso(0),
                "created_at": iso(0),
                "updated_at": iso(0),
            }
        )
        out.update(repo.extra)
        return out

    def label(self, repo: RepoState, label: LabelState) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": label.id,
            "node_id": node_id("L", label.id),
            "url": f"{self.repo_url(repo)}/labels/{label.name}",
            "name": label.name,
            "description": label.description,
            "color": label.color,
            "default": label.default,
        }
        out.update(label.extra)
        return out

    def _branch(self, repo: RepoState, owner: str, ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(owner),
            "repo": self.repository(repo),
        }

    def pull(self, repo: RepoState, issue: IssueState, head_repo: RepoState) -> dict[str, Any]:
        pull = issue.pull
        assert pull is not None, f"#{issue.number} is an issue, not a pull request"
        api = f"{self.repo_url(repo)}/pulls/{issue.number}"
        issue_api = f"{self.repo_url(repo)}/issues/{issue.number}"
        html = f"{HTML_BASE}/{repo.full_name}/pull/{issue.number}"
        statuses = f"{self.repo_url(repo)}/statuses/{pull.head_sha}"
        links = {
            "self": api,
            "html": html,
            "issue": issue_api,
            "comments": f"{issue_api}/comments",
            "review_comments": f"{api}/comments",
            "review_comment": f"{self.repo_url(repo)}/pulls/comments{{/number}}",
            "commits": f"{api}/commits",
            "statuses": statuses,
        }
        out: dict[str, Any] = {
            "url": api,
            "id": issue.id,
            "node_id": node_id("PR", issue.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_api,
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "comments_url": links["comments"],
            "statuses_url": statuses,
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "user": self.user(issue.user),
            "body": issue.body,
            "labels": [self.label(repo, repo.labels[n]) for n in issue.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": None if issue.state == "open" else iso(issue.updated_at),
            "merged_at": iso(issue.updated_at) if pull.merged else None,
            "merge_commit_sha": None,
            "assignee": self.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user(login) for login in issue.assignees],
            "requested_reviewers": [self.user(login) for login in pull.requested_reviewers],
            "requested_teams": [],
            "head": self._branch(head_repo, head_repo.owner, pull.head_ref, pull.head_sha),
            "base": self._branch(repo, repo.owner, pull.base_ref, pull.base_sha),
            "_links": {k: {"href": v} for k, v in links.items()},
            "author_association": pull.author_association,
            "auto_merge": None,
            "draft": pull.draft,
            "merged": pull.merged,
            "mergeable": pull.mergeable,
            "rebaseable": pull.mergeable,
            "mergeable_state": pull.mergeable_state,
            "merged_by": None,
            "comments": sum(1 for c in repo.comments.values() if c.issue_number == issue.number),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": 1,
            "additions": sum(f.additions for f in pull.files),
            "deletions": sum(f.deletions for f in pull.files),
            "changed_files": len(pull.files),
        }
        out.update(issue.extra)
        out.update(pull.extra)
        return out

    def issue(self, repo: RepoState, issue: IssueState) -> dict[str, Any]:
        api = f"{self.repo_url(repo)}/issues/{issue.number}"
        kind = "pull" if issue.pull is not None else "issues"
        out: dict[str, Any] = {
            "id": issue.id,
            "node_id": node_id("I", issue.id),
            "url": api,
            "repository_url": self.repo_url(repo),
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"{HTML_BASE}/{repo.full_name}/{kind}/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "title": issue.title,
            "body": issue.body,
            "user": self.user(issue.user),
            "labels": [self.label(repo, repo.labels[n]) for n in issue.labels],
            "assignee": self.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user(login) for login in issue.assignees],
            "milestone": None,
            "locked": False,
            "comments": sum(1 for c in repo.comments.values() if c.issue_number == issue.number),
            "closed_at": None if issue.state == "open" else iso(issue.updated_at),
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "author_association": "NONE",
        }
        out.update(issue.extra)
        return out

    def diff_entry(self, repo: RepoState, head_sha: str, change: FileChange) -> dict[str, Any]:
        html = f"{HTML_BASE}/{repo.full_name}"
        sha = blob_sha(change.filename.encode())
        out: dict[str, Any] = {
            "sha": sha,
            "filename": change.filename,
            "status": change.status,
            "additions": change.additions,
            "deletions": change.deletions,
            "changes": change.additions + change.deletions,
            "blob_url": f"{html}/blob/{head_sha}/{change.filename}",
            "raw_url": f"{html}/raw/{head_sha}/{change.filename}",
            "contents_url": f"{self.repo_url(repo)}/contents/{change.filename}?ref={head_sha}",
            "patch": "@@ -1 +1 @@",
        }
        if change.previous_filename is not None:
            out["previous_filename"] = change.previous_filename
        out.update(change.extra)
        return out

    def comment(self, repo: RepoState, comment: CommentState) -> dict[str, Any]:
        issue_api = f"{self.repo_url(repo)}/issues/{comment.issue_number}"
        html_kind = "pull" if repo.issues[comment.issue_number].pull else "issues"
        out: dict[str, Any] = {
            "id": comment.id,
            "node_id": node_id("IC", comment.id),
            "url": f"{self.repo_url(repo)}/issues/comments/{comment.id}",
            "html_url": (
                f"{HTML_BASE}/{repo.full_name}/{html_kind}/{comment.issue_number}"
                f"#issuecomment-{comment.id}"
            ),
            "body": comment.body,
            "user": self.user(comment.user),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "issue_url": issue_api,
            "author_association": "NONE",
        }
        out.update(comment.extra)
        return out

    def status(self, repo: RepoState, status: StatusState) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": f"{self.repo_url(repo)}/statuses/{status.sha}",
            "avatar_url": None,
            "id": status.id,
            "node_id": node_id("SC", status.id),
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.created_at),
            "creator": self.user(status.creator),
        }
        out.update(status.extra)
        return out

    def _content_common(self, repo: RepoState, path: str, ref: str, sha: str) -> dict[str, Any]:
        api = f"{self.repo_url(repo)}/contents/{path}?ref={ref}"
        git = f"{self.repo_url(repo)}/git/blobs/{sha}"
        html = f"{HTML_BASE}/{repo.full_name}/blob/{ref}/{path}"
        return {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": api,
            "git_url": git,
            "html_url": html,
            "_links": {"self": api, "git": git, "html": html},
        }

    def content_file(
        self, repo: RepoState, path: str, ref: str, content: bytes, inline_limit: int
    ) -> dict[str, Any]:
        sha = blob_sha(content)
        out = self._content_common(repo, path, ref, sha)
        inline = len(content) <= inline_limit
        encoded = base64.encodebytes(content).decode() if inline else ""
        out.update(
            {
                "type": "file",
                "size": len(content),
                "encoding": "base64" if inline else "none",
                "content": encoded,
                "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
            }
        )
        return out

    def content_dir_entry(
        self, repo: RepoState, path: str, ref: str, content: bytes | None
    ) -> dict[str, Any]:
        """An entry of a directory listing; `content` None means a subdirectory."""
        sha = blob_sha(content if content is not None else path.encode())
        out = self._content_common(repo, path, ref, sha)
        out.update(
            {
                "type": "file" if content is not None else "dir",
                "size": len(content) if content is not None else 0,
                "download_url": None,
            }
        )
        return out

    def blob(self, repo: RepoState, content: bytes) -> dict[str, Any]:
        sha = blob_sha(content)
        return {
            "sha": sha,
            "node_id": node_id("B", int(sha[:8], 16)),
            "url": f"{self.repo_url(repo)}/git/blobs/{sha}",
            "size": len(content),
            "content": base64.encodebytes(content).decode(),
            "encoding": "base64",
        }

    def git_ref(self, repo: RepoState, ref: str, sha: str) -> dict[str, Any]:
        return {
            "ref": f"refs/{ref}",
            "node_id": node_id("REF", int(sha[:8], 16)),
            "url": f"{self.repo_url(repo)}/git/refs/{ref}",
            "object": {
                "type": "commit",
                "sha": sha,
                "url": f"{self.repo_url(repo)}/git/commits/{sha}",
            },
        }

    def installation(self, inst: InstallationState, app: AppState) -> dict[str, Any]:
        account = self.users[inst.account]
        return {
            "id": inst.id,
            "account": self.user(inst.account),
            "repository_selection": "all",
            "access_tokens_url": f"{self.api}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{HTML_BASE}/settings/installations/{inst.id}",
            "app_id": app.app_id,
            "app_slug": app.slug,
            "target_id": account.id,
            "target_type": account.type,
            "permissions": dict(inst.permissions),
            "events": ["issue_comment", "pull_request", "push"],
            "created_at": iso(inst.created_at),
            "updated_at": iso(inst.created_at),
            "single_file_name": None,
            "suspended_by": None,
            "suspended_at": None,
        }

    def permission(self, login: str, permission: str) -> dict[str, Any]:
        rank = ["none", "read", "triage", "write", "maintain", "admin"].index(permission)
        user = self.user(login)
        user["permissions"] = {
            "pull": rank >= 1,
            "triage": rank >= 2,
            "push": rank >= 3,
            "maintain": rank >= 4,
            "admin": rank >= 5,
        }
        user["role_name"] = permission
        # GitHub's legacy `permission` folds triage into read and maintain into write.
        legacy = {"triage": "read", "maintain": "write"}.get(permission, permission)
        return {"permission": legacy, "role_name": permission, "user": user}
