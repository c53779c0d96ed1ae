"""The GitHub REST client: the only way foredeck talks to the GitHub API.

`GitHubClient` is the API operations foredeck uses (pulls, people, labels, comments, statuses,
contents; pull request writes and branch pushes are `github_pulls`), each one GitHub endpoint;
how requests are sent (auth, retries, rate limits, ETags, pagination) is
`github_http.GitHubHttp`. `base_url` points at api.github.com, a GitHub Enterprise Server
(`https://HOST/api/v3`) or the test double.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

from foredeck.scm.github_auth import AppAuth, TokenAuth, auth_from_settings
from foredeck.scm.github_http import (
    GitHubHttp,
    multi_segment,
    parse,
    repo_path,
    segment,
)
from foredeck.scm.github_merges import GitHubMerges
from foredeck.scm.github_pulls import GitHubPullWrites
from foredeck.scm.github_types import (
    LOGIN,
    MAX_FILE_BYTES,
    NAME,
    CommitStatus,
    GitHubError,
    IssueComment,
    Label,
    PullRequest,
)
from foredeck.scm.statuses import NewStatus, StatusSetter
from foredeck.settings import GitHubSettings

log = logging.getLogger(__name__)


class GitHubClient(StatusSetter, GitHubPullWrites, GitHubMerges):
    """Async GitHub REST client. Use `async with`, or call `close()`.

    `auth` is a token (string or `TokenAuth`) or a GitHub App (`AppAuth`); `auth_from_files()`
    builds either from Prow-style secret files.
    """

    def __init__(self, auth: str | TokenAuth | AppAuth, **options: Any) -> None:
        """`options` are `GitHubHttp`'s: `base_url`, `timeout`, `max_retries`, `sleep`, ..."""
        self._api = GitHubHttp(auth, **options)
        self.base_url = self._api.base_url

    def __repr__(self) -> str:
        return f"GitHubClient(base_url={self.base_url!r}, auth={self._api.auth!r})"

    async def close(self) -> None:
        await self._api.close()

    @property
    def is_closed(self) -> bool:
        return self._api.is_closed

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def installation_id(self, owner: str, repo: str) -> int:
        """The App installation serving `owner/repo` (App auth only)."""
        if not isinstance(self._api.auth, AppAuth):
            raise ValueError("installation_id() needs GitHub App auth")
        return await self._api.installation_for(repo_path(owner, repo))

    # -- pull requests ------------------------------------------------------------------------

    async def get_pull(self, owner: str, repo: str, number: int) -> PullRequest:
        resp = await self._api.call("GET", f"{repo_path(owner, repo)}/pulls/{int(number)}")
        return parse(PullRequest, resp)

    async def list_pull_files(self, owner: str, repo: str, number: int) -> list[str]:
        """Every path the pull request touches, old names of renamed files included."""
        seen: dict[str, None] = {}
        path = f"{repo_path(owner, repo)}/pulls/{int(number)}/files"
        async for entry in self._api.paginate(path):
            seen[entry["filename"]] = None
            if entry.get("previous_filename"):
                seen[entry["previous_filename"]] = None
        return list(seen)

    # -- people -------------------------------------------------------------------------------

    async def is_org_member(self, org: str, user: str) -> bool:
        """Membership of `user` in `org`; False when the token cannot see private members.

        GitHub answers 302 (to the public-members check) when the requester is not itself an
        org member. The redirect is not followed: a bot deciding who may trigger CI must not
        treat an unverifiable membership as a yes.
        """
        path = f"/orgs/{segment(org, 'org', NAME)}/members/{segment(user, 'user', LOGIN)}"
        resp = await self._api.call("GET", path, ok=(204, 302, 404))
        if resp.status == 302:
            log.warning("GitHub: cannot see membership of org %s (requester not a member)", org)
        return resp.status == 204

    async def is_collaborator(self, owner: str, repo: str, user: str) -> bool:
        path = f"{repo_path(owner, repo)}/collaborators/{segment(user, 'user', LOGIN)}"
        resp = await self._api.call("GET", path, ok=(204, 404))
        return resp.status == 204

    async def get_user_permission(self, owner: str, repo: str, user: str) -> str:
        """`admin`, `write`, `read` or `none`.

        GitHub's base `permission`, not `role_name`: maintain counts as write, triage as read,
        and custom roles as their base, so callers can compare against four fixed values.
        """
        path = f"{repo_path(owner, repo)}/collaborators/{segment(user, 'user', LOGIN)}/permission"
        resp = await self._api.call("GET", path, ok=(200, 404))
        if resp.status == 404:
            return "none"
        permission = resp.json().get("permission")
        return permission if permission in ("admin", "write", "read") else "none"

    # -- labels -------------------------------------------------------------------------------

    async def list_issue_labels(self, owner: str, repo: str, number: int) -> list[Label]:
        path = f"{repo_path(owner, repo)}/issues/{int(number)}/labels"
        return [parse(Label, item) async for item in self._api.paginate(path)]

    async def add_labels(
        self, owner: str, repo: str, number: int, labels: Sequence[str]
    ) -> list[Label]:
        """Add labels (created in the repository if missing); returns the issue's labels."""
        if isinstance(labels, str):
            raise TypeError("labels must be a sequence of names, not one string")
        names = list(dict.fromkeys(labels))
        if not names:
            return await self.list_issue_labels(owner, repo, number)
        for name in names:
            if not name.strip():
                raise ValueError("label names must not be empty")
        path = f"{repo_path(owner, repo)}/issues/{int(number)}/labels"
        resp = await self._api.call("POST", path, body={"labels": names})
        return [parse(Label, item) for item in resp.json()]

    async def remove_label(self, owner: str, repo: str, number: int, label: str) -> None:
        """Remove a label; a label that is already absent is fine (idempotent)."""
        name = segment(label, "label")
        path = f"{repo_path(owner, repo)}/issues/{int(number)}/labels/{name}"
        await self._api.call("DELETE", path, ok=(200, 204, 404))

    # -- assignees and review requests -------------------------------------------------------

    async def add_assignees(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]:
        """Assign `logins`; returns who is assigned now. GitHub silently leaves out users who
        cannot be assigned (no access to the repository), so callers compare."""
        body = {"assignees": _logins(logins)}
        path = f"{repo_path(owner, repo)}/issues/{int(number)}/assignees"
        resp = await self._api.call("POST", path, body=body, ok=(201,))
        return [user["login"] for user in resp.json().get("assignees") or []]

    async def remove_assignees(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]:
        """Unassign `logins` (ones not assigned are fine); returns who is assigned now."""
        body = {"assignees": _logins(logins)}
        path = f"{repo_path(owner, repo)}/issues/{int(number)}/assignees"
        resp = await self._api.call("DELETE", path, body=body, ok=(200,))
        return [user["login"] for user in resp.json().get("assignees") or []]

    async def request_reviewers(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]:
        """Request reviews of a pull request; returns the pending requests now. GitHub refuses
        (422, `GitHubError`) non-collaborators and the pull request's author."""
        body = {"reviewers": _logins(logins)}
        path = f"{repo_path(owner, repo)}/pulls/{int(number)}/requested_reviewers"
        resp = await self._api.call("POST", path, body=body, ok=(201,))
        return [user["login"] for user in resp.json().get("requested_reviewers") or []]

    async def remove_requested_reviewers(
        self, owner: str, repo: str, number: int, logins: Sequence[str]
    ) -> list[str]:
        """Withdraw review requests; returns the pending requests now."""
        body = {"reviewers": _logins(logins)}
        path = f"{repo_path(owner, repo)}/pulls/{int(number)}/requested_reviewers"
        resp = await self._api.call("DELETE", path, body=body, ok=(200,))
        return [user["login"] for user in resp.json().get("requested_reviewers") or []]

    # -- comments -----------------------------------------------------------------------------

    async def list_issue_comments(self, owner: str, repo: str, number: int) -> list[IssueComment]:
        path = f"{repo_path(owner, repo)}/issues/{int(number)}/comments"
        return [parse(IssueComment, item) async for item in self._api.paginate(path)]

    async def create_comment(self, owner: str, repo: str, number: int, body: str) -> IssueComment:
        path = f"{repo_path(owner, repo)}/issues/{int(number)}/comments"
        resp = await self._api.call("POST", path, body={"body": body}, ok=(201,))
        return parse(IssueComment, resp)

    async def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> IssueComment:
        path = f"{repo_path(owner, repo)}/issues/comments/{int(comment_id)}"
        resp = await self._api.call("PATCH", path, body={"body": body})
        return parse(IssueComment, resp)

    async def delete_comment(self, owner: str, repo: str, comment_id: int) -> None:
        """Delete a comment; one that is already gone is fine (idempotent)."""
        path = f"{repo_path(owner, repo)}/issues/comments/{int(comment_id)}"
        await self._api.call("DELETE", path, ok=(204, 404))

    # -- statuses -----------------------------------------------------------------------------

    async def set_status(self, owner: str, repo: str, sha: str, status: NewStatus) -> CommitStatus:
        body: dict[str, Any] = {
            "state": status.state,
            "context": status.context,
            "description": status.description,
        }
        if status.target_url:
            body["target_url"] = status.target_url
        path = f"{repo_path(owner, repo)}/statuses/{segment(sha, 'sha')}"
        resp = await self._api.call("POST", path, body=body, ok=(201,))
        return parse(CommitStatus, resp)

    async def list_commit_statuses(self, owner: str, repo: str, ref: str) -> list[CommitStatus]:
        """Statuses of a commit (sha, branch or tag), newest first as GitHub returns them."""
        path = f"{repo_path(owner, repo)}/commits/{multi_segment(ref, 'ref')}/statuses"
        return [parse(CommitStatus, item) async for item in self._api.paginate(path)]

    # -- contents and refs --------------------------------------------------------------------

    async def get_file_content(
        self,
        owner: str,
        repo: str,
        path: str,
        ref: str | None = None,
        *,
        max_size: int = MAX_FILE_BYTES,
    ) -> bytes | None:
        """A file's bytes at `ref` (default branch if None); None if there is no such file."""
        url = f"{repo_path(owner, repo)}/contents/{multi_segment(path, 'path')}"
        resp = await self._api.call("GET", url, params={"ref": ref} if ref else None, ok=(200, 404))
        if resp.status == 404:
            return None
        data = resp.json()
        if not isinstance(data, dict) or data.get("type") != "file":
            kind = "directory" if isinstance(data, list) else data.get("type")
            raise GitHubError(200, f"{path} is a {kind}, not a file", method="GET", url=resp.url)
        size = int(data.get("size", 0))
        if size > max_size:
            raise GitHubError(0, f"{path} is {size} bytes, over the {max_size} byte limit")
        if data.get("encoding") == "base64":
            return base64.b64decode(data.get("content", ""))
        # Files over 1 MB come without inline content; the blob API serves up to 100 MB.
        blob = await self._api.call(
            "GET", f"{repo_path(owner, repo)}/git/blobs/{segment(data['sha'], 'sha')}"
        )
        blob_data = blob.json()
        if blob_data.get("encoding") != "base64":
            raise GitHubError(200, f"unexpected blob encoding {blob_data.get('encoding')!r}")
        return base64.b64decode(blob_data["content"])

    async def get_ref(self, owner: str, repo: str, ref: str) -> str:
        """The commit sha a ref points at; `ref` like `heads/main` or `tags/v1.0`."""
        name = ref.removeprefix("refs/")
        resp = await self._api.call(
            "GET", f"{repo_path(owner, repo)}/git/ref/{multi_segment(name, 'ref')}"
        )
        sha = resp.json().get("object", {}).get("sha")
        if not isinstance(sha, str):
            raise GitHubError(200, f"ref {ref} has no object sha", method="GET", url=resp.url)
        return sha

    async def get_branch_sha(self, owner: str, repo: str, branch: str) -> str:
        return await self.get_ref(owner, repo, f"heads/{branch}")


def client_from_settings(settings: GitHubSettings, **kwargs: Any) -> GitHubClient:
    """A new client for the `github` settings, reading its secret files now (`ValueError` if
    they are missing or unusable); create it on the event loop that will use it."""
    kwargs.setdefault("timeout", settings.timeout)
    return GitHubClient(auth_from_settings(settings), base_url=settings.base_url, **kwargs)


def _logins(logins: Sequence[str]) -> list[str]:
    if isinstance(logins, str):
        raise TypeError("logins must be a sequence of names, not one string")
    names = list(dict.fromkeys(logins))
    for name in names:
        if not LOGIN.fullmatch(name):
            raise ValueError(f"invalid GitHub login: {name[:60]!r}")
    return names
