"""Pull request writes and branch pushes on GitHub, through the REST and Git Data APIs.

A mixin of `GitHubClient`. A branch is pushed without git: the changed files become blobs, a
tree on the base commit's tree, one commit whose parent is the base, and a forced update of
`refs/heads/BRANCH` (created when missing). So no token reaches a command line or a git
config, and the GitHub double checks every step against GitHub's OpenAPI description.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from foredeck.scm.branches import (
    MAX_CHECKOUT_BYTES,
    MAX_TREE_FILES,
    CommitPeople,
    GitIdentity,
    check_paths,
    check_relative,
    under,
)
from foredeck.scm.github_http import GitHubHttp, multi_segment, parse, repo_path, segment
from foredeck.scm.github_types import GitHubError, PullRequest
from foredeck.scm.gitrun import valid_ref_name


def git_blob_sha(data: bytes) -> str:
    """Git's id of a blob with these bytes (what GitHub's trees list)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class GitHubPullWrites:
    """Open, find, edit and close pull requests; check out and push a branch."""

    _api: GitHubHttp

    async def list_open_pulls(
        self, owner: str, repo: str, head: str | None = None
    ) -> list[PullRequest]:
        """Open pull requests, newest first; only those from branch `head` when given."""
        params = {"state": "open"}
        if head is not None:
            params["head"] = f"{owner}:{head}"
        path = f"{repo_path(owner, repo)}/pulls"
        return [parse(PullRequest, item) async for item in self._api.paginate(path, params)]

    async def create_pull(
        self, owner: str, repo: str, *, title: str, body: str, head: str, base: str
    ) -> PullRequest:
        payload = {"title": title, "body": body, "head": head, "base": base}
        resp = await self._api.call(
            "POST", f"{repo_path(owner, repo)}/pulls", body=payload, ok=(201,)
        )
        return parse(PullRequest, resp)

    async def update_pull(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
    ) -> PullRequest:
        """Change a pull request's title, body or state (`closed` closes it)."""
        fields = {"title": title, "body": body, "state": state}
        payload = {k: v for k, v in fields.items() if v is not None}
        path = f"{repo_path(owner, repo)}/pulls/{int(number)}"
        return parse(PullRequest, await self._api.call("PATCH", path, body=payload))

    async def list_pull_commits(self, owner: str, repo: str, number: int) -> list[CommitPeople]:
        path = f"{repo_path(owner, repo)}/pulls/{int(number)}/commits"
        found = []
        async for item in self._api.paginate(path):
            commit = item.get("commit") or {}
            found.append(
                CommitPeople(
                    sha=str(item.get("sha", "")),
                    author_email=str((commit.get("author") or {}).get("email", "")),
                    committer_email=str((commit.get("committer") or {}).get("email", "")),
                )
            )
        return found

    async def checkout_tree(
        self, owner: str, repo: str, base: str, paths: list[str], dest: Path
    ) -> GitHubCheckout:
        """The files of branch `base` under `paths`, written to `dest`."""
        paths = check_paths(paths)
        base_sha = await self._ref_sha(owner, repo, base)
        dest.mkdir(parents=True, exist_ok=True)
        commit = (await self.git_get(owner, repo, f"git/commits/{segment(base_sha, 'sha')}")).json()
        tree_sha = str(commit["tree"]["sha"])
        resp = await self.git_get(
            owner, repo, f"git/trees/{segment(tree_sha, 'sha')}", params={"recursive": "1"}
        )
        listing = resp.json()
        if listing.get("truncated"):
            raise GitHubError(0, f"{owner}/{repo}: the tree of {base} is too large to read")
        entries = {
            check_relative(str(e["path"])): (str(e["mode"]), str(e["sha"]))  # never `..`
            for e in listing.get("tree", [])
            if e.get("type") == "blob" and under(str(e["path"]), paths)
        }
        if len(entries) > MAX_TREE_FILES:
            raise GitHubError(0, f"{owner}/{repo}: over {MAX_TREE_FILES} files under {paths}")
        total = 0
        for path, (_, sha) in entries.items():
            blob = (await self.git_get(owner, repo, f"git/blobs/{segment(sha, 'sha')}")).json()
            data = base64.b64decode(blob.get("content", ""))
            total += len(data)
            if total > MAX_CHECKOUT_BYTES:
                raise GitHubError(
                    0, f"{owner}/{repo}: over {MAX_CHECKOUT_BYTES} bytes under {paths}"
                )
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return GitHubCheckout(self, owner, repo, dest, base_sha, tree_sha, entries, paths)

    async def _ref_sha(self, owner: str, repo: str, branch: str) -> str:
        resp = await self.git_get(owner, repo, f"git/ref/heads/{multi_segment(branch, 'ref')}")
        return str(resp.json()["object"]["sha"])

    async def git_get(
        self, owner: str, repo: str, path: str, params: dict[str, Any] | None = None
    ) -> Any:
        return await self._api.call("GET", f"{repo_path(owner, repo)}/{path}", params=params)

    async def git_post(self, owner: str, repo: str, path: str, body: dict[str, Any]) -> Any:
        resp = await self._api.call(
            "POST", f"{repo_path(owner, repo)}/{path}", body=body, ok=(201,)
        )
        return resp.json()

    async def force_branch(self, owner: str, repo: str, branch: str, sha: str) -> None:
        """Point `branch` at commit `sha`, whatever it pointed at (created when missing)."""
        if not valid_ref_name(branch):
            raise ValueError(f"invalid branch name {branch!r}")
        path = f"{repo_path(owner, repo)}/git/refs/heads/{multi_segment(branch, 'ref')}"
        resp = await self._api.call(
            "PATCH", path, body={"sha": sha, "force": True}, ok=(200, 404, 422)
        )
        if resp.status == 200:
            return
        message = str(resp.json().get("message", "")) if resp.content else ""
        if resp.status == 422 and "reference does not exist" not in message.lower():
            raise GitHubError(422, f"cannot move {branch}: {message}", method="PATCH", url=path)
        await self.git_post(owner, repo, "git/refs", {"ref": f"refs/heads/{branch}", "sha": sha})


class GitHubCheckout:
    """Files of a GitHub branch fetched into `root`; `push` writes back what changed."""

    def __init__(
        self,
        client: GitHubPullWrites,
        owner: str,
        repo: str,
        root: Path,
        base_sha: str,
        tree_sha: str,
        entries: dict[str, tuple[str, str]],
        paths: list[str],
    ) -> None:
        self._client = client
        self._owner, self._repo = owner, repo
        self.root = root
        self.base_sha = base_sha
        self._tree_sha = tree_sha
        self._entries = entries
        self._paths = paths

    def changes(self) -> dict[str, bytes | None]:
        """Changed or new files under the paths (their bytes), and removed ones (None)."""
        found: dict[str, bytes | None] = {}
        seen = set()
        for file in sorted(self.root.rglob("*")):
            if not file.is_file() or file.is_symlink():
                continue
            path = file.relative_to(self.root).as_posix()
            if not under(path, self._paths):
                continue
            seen.add(path)
            data = file.read_bytes()
            if self._entries.get(path, ("", ""))[1] != git_blob_sha(data):
                found[path] = data
        for path in self._entries:
            if path not in seen:
                found[path] = None
        return found

    async def push(
        self, branch: str, message: str, identity: GitIdentity, current: str | None = None
    ) -> str | None:
        changes = self.changes()
        if not changes:
            return None
        client, owner, repo = self._client, self._owner, self._repo
        tree: list[dict[str, Any]] = []
        for path, data in sorted(changes.items()):
            if data is None:
                tree.append({"path": path, "mode": "100644", "type": "blob", "sha": None})
                continue
            content = base64.b64encode(data).decode()
            blob = await client.git_post(
                owner, repo, "git/blobs", {"content": content, "encoding": "base64"}
            )
            mode = self._entries.get(path, ("100644", ""))[0]
            tree.append({"path": path, "mode": mode, "type": "blob", "sha": blob["sha"]})
        new_tree = await client.git_post(
            owner, repo, "git/trees", {"base_tree": self._tree_sha, "tree": tree}
        )
        if current is not None and await self._same(current, str(new_tree["sha"])):
            return current
        person = {"name": identity.name, "email": identity.email}
        commit = await client.git_post(
            owner,
            repo,
            "git/commits",
            {
                "message": message,
                "tree": new_tree["sha"],
                "parents": [self.base_sha],
                "author": person,
                "committer": person,
            },
        )
        sha = str(commit["sha"])
        await client.force_branch(owner, repo, branch, sha)
        return sha

    async def _same(self, current: str, tree_sha: str) -> bool:
        """Whether commit `current` is this tree on this checkout's base."""
        path = f"git/commits/{segment(current, 'sha')}"
        commit = (await self._client.git_get(self._owner, self._repo, path)).json()
        parents = [p.get("sha") for p in commit.get("parents", [])]
        return parents == [self.base_sha] and commit.get("tree", {}).get("sha") == tree_sha
