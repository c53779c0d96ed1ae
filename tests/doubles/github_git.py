"""The GitHub double's Git Data API and pull request writes: what a bump pull request needs.

A repository's git objects are kept per repository (`GitObjects`): blobs by their real git id,
trees flat (path -> mode and blob id) under a digest of their entries, commits under a digest of
their fields. That is enough to fetch a tree, write blobs, trees and commits, move a branch
(fast-forward only unless `force`) and open, list, edit and close pull requests whose head
follows its branch. `deny_push(owner, repo)` makes writes answer 403, as GitHub does for a
token without `contents: write`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.doubles.github_state import (
    HTML_BASE,
    IssueState,
    JsonBuilder,
    PullState,
    RepoState,
    blob_sha,
    iso,
    node_id,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tests.doubles.github_api import Reply, _Ctx

NO_PERMISSION = "Resource not accessible by integration"


@dataclass
class GitCommit:
    tree: str
    parents: list[str]
    message: str
    author: dict[str, str]
    committer: dict[str, str]


@dataclass
class GitObjects:
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    commits: dict[str, GitCommit] = field(default_factory=dict)


def _digest(kind: str, value: Any) -> str:
    text = json.dumps([kind, value], sort_keys=True, default=lambda o: o.__dict__)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


class GitDataOps:
    """Mixed into `GitHubDouble`: seeding helpers and the operations' handlers."""

    git: dict[tuple[str, str], GitObjects]
    push_denied: set[tuple[str, str]]

    if TYPE_CHECKING:  # what the mixin uses of `GitHubDouble`
        clock: Callable[[], float]

        def repo(self, owner: str, name: str) -> RepoState: ...
        def add_issue(
            self,
            owner: str,
            name: str,
            number: int,
            *,
            author: str = ...,
            title: str = ...,
            body: str | None = ...,
            labels: Iterable[str] = ...,
        ) -> IssueState: ...
        def _repo(self, ctx: _Ctx) -> RepoState: ...
        def _pull_issue(self, ctx: _Ctx, repo: RepoState) -> IssueState: ...
        @property
        def _json(self) -> JsonBuilder: ...

    def _init_git(self) -> None:
        self.git = {}
        self.push_denied = set()

    # -- seeding and inspection ---------------------------------------------------------------

    def objects(self, owner: str, name: str) -> GitObjects:
        return self.git.setdefault((owner, name), GitObjects())

    def commit_files(
        self,
        owner: str,
        name: str,
        branch: str,
        files: dict[str, bytes | str],
        *,
        message: str = "seed",
        author: tuple[str, str] = ("Octo Cat", "octocat@example.com"),
    ) -> str:
        """A real commit of `files` (the whole tree) on `branch`, its parent the branch's
        commit when there is one; the contents API sees the files at the branch and the sha."""
        repo = self.repo(owner, name)
        store = self.objects(owner, name)
        tree: dict[str, tuple[str, str]] = {}
        for path, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            store.blobs[blob_sha(data)] = data
            tree[path] = ("100644", blob_sha(data))
        parent = repo.branches.get(branch)
        parents = [parent] if parent in store.commits else []
        person = {"name": author[0], "email": author[1], "date": iso(self.clock())}
        sha = self._store_commit(store, tree, GitCommit("", parents, message, person, person))
        self._move_branch(repo, branch, sha)
        return sha

    def files_at(self, owner: str, name: str, ref: str) -> dict[str, bytes]:
        """The files of the commit `ref` (a branch or a sha) points at."""
        repo = self.repo(owner, name)
        store = self.objects(owner, name)
        commit = store.commits[repo.branches.get(ref, ref)]
        return {path: store.blobs[sha] for path, (_, sha) in store.trees[commit.tree].items()}

    def commit(self, owner: str, name: str, sha: str) -> GitCommit:
        return self.objects(owner, name).commits[sha]

    def deny_push(self, owner: str, name: str) -> None:
        self.push_denied.add((owner, name))

    def _store_commit(
        self, store: GitObjects, tree: dict[str, tuple[str, str]], commit: GitCommit
    ) -> str:
        tree_sha = _digest("tree", sorted(tree.items()))
        store.trees[tree_sha] = dict(tree)
        commit.tree = tree_sha
        sha = _digest("commit", commit)
        store.commits[sha] = commit
        return sha

    def _move_branch(self, repo: RepoState, branch: str, sha: str) -> None:
        repo.branches[branch] = sha
        store = self.objects(repo.owner, repo.name)
        for path, (_, blob) in store.trees[store.commits[sha].tree].items():
            repo.files[(sha, path)] = store.blobs[blob]
        for issue in repo.issues.values():
            pull = issue.pull
            if pull is not None and issue.state == "open" and pull.head_ref == branch:
                pull.head_sha = sha
                issue.updated_at = self.clock()

    def _writable(self, ctx: _Ctx) -> RepoState:
        from tests.doubles.github_api import Rejected

        repo = self._repo(ctx)
        if (repo.owner, repo.name) in self.push_denied:
            raise Rejected(403, NO_PERMISSION)
        return repo

    # -- git data -----------------------------------------------------------------------------

    def _op_git_get_commit(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Rejected, Reply

        repo = self._repo(ctx)
        commit = self.objects(repo.owner, repo.name).commits.get(ctx.p("commit_sha"))
        if commit is None:
            raise Rejected(404, "Not Found")
        return Reply(200, self._git_commit_json(repo, ctx.p("commit_sha"), commit))

    def _git_commit_json(self, repo: RepoState, sha: str, commit: GitCommit) -> dict[str, Any]:
        api = f"{self._json.repo_url(repo)}/git"
        html = f"{HTML_BASE}/{repo.full_name}/commit"
        return {
            "sha": sha,
            "node_id": node_id("C", int(sha[:8], 16)),
            "url": f"{api}/commits/{sha}",
            "html_url": f"{html}/{sha}",
            "author": commit.author,
            "committer": commit.committer,
            "tree": {"sha": commit.tree, "url": f"{api}/trees/{commit.tree}"},
            "message": commit.message,
            "parents": [
                {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{html}/{p}"}
                for p in commit.parents
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def _op_git_get_tree(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Rejected, Reply

        repo = self._repo(ctx)
        tree_sha = str(ctx.p("tree_sha"))
        tree = self.objects(repo.owner, repo.name).trees.get(tree_sha)
        if tree is None:
            raise Rejected(404, "Not Found")
        if not ctx.match.query.get("recursive"):
            tree = {p: e for p, e in tree.items() if "/" not in p}
        api = f"{self._json.repo_url(repo)}/git/blobs"
        store = self.objects(repo.owner, repo.name)
        entries = [
            {
                "path": path,
                "mode": mode,
                "type": "blob",
                "sha": sha,
                "size": len(store.blobs[sha]),
                "url": f"{api}/{sha}",
            }
            for path, (mode, sha) in sorted(tree.items())
        ]
        url = f"{self._json.repo_url(repo)}/git/trees/{tree_sha}"
        return Reply(200, {"sha": tree_sha, "url": url, "tree": entries, "truncated": False})

    def _op_git_create_blob(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Rejected, Reply

        repo = self._writable(ctx)
        content = ctx.body["content"]
        encoding = ctx.body.get("encoding", "utf-8")
        if encoding not in ("utf-8", "base64"):
            raise Rejected(422, f"encoding {encoding!r} is not supported", violation=True)
        data = base64.b64decode(content) if encoding == "base64" else content.encode()
        sha = blob_sha(data)
        self.objects(repo.owner, repo.name).blobs[sha] = data
        url = f"{self._json.repo_url(repo)}/git/blobs/{sha}"
        return Reply(201, {"url": url, "sha": sha}, {"location": url})

    def _op_git_create_tree(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Rejected, Reply

        repo = self._writable(ctx)
        store = self.objects(repo.owner, repo.name)
        base = ctx.body.get("base_tree")
        if base is not None and base not in store.trees:
            raise Rejected(422, "Invalid tree info")
        tree = dict(store.trees[base]) if base else {}
        for entry in ctx.body["tree"]:
            path, sha = entry["path"], entry.get("sha")
            if sha is None:
                tree.pop(path, None)
            elif sha not in store.blobs or entry.get("type") != "blob":
                raise Rejected(422, "tree.sha is not a valid blob")
            else:
                tree[path] = (entry.get("mode", "100644"), sha)
        tree_sha = _digest("tree", sorted(tree.items()))
        store.trees[tree_sha] = tree
        url = f"{self._json.repo_url(repo)}/git/trees/{tree_sha}"
        body = {"sha": tree_sha, "url": url, "truncated": False, "tree": []}
        return Reply(201, body, {"location": url})

    def _op_git_create_commit(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Rejected, Reply

        repo = self._writable(ctx)
        store = self.objects(repo.owner, repo.name)
        parents = list(ctx.body.get("parents", []))
        if ctx.body["tree"] not in store.trees or any(p not in store.commits for p in parents):
            raise Rejected(422, "Tree SHA does not exist or a parent SHA is invalid")
        now = iso(self.clock())
        author = {"date": now, **ctx.body.get("author", {"name": ctx.login, "email": "x@y"})}
        committer = {"date": now, **ctx.body.get("committer", author)}
        commit = GitCommit("", parents, ctx.body["message"], author, committer)
        sha = self._store_commit(store, store.trees[ctx.body["tree"]], commit)
        body = self._git_commit_json(repo, sha, commit)
        return Reply(201, body, {"location": body["url"]})

    def _ref_json(self, repo: RepoState, branch: str) -> dict[str, Any]:
        return self._json.git_ref(repo, f"heads/{branch}", repo.branches[branch])

    def _op_git_create_ref(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Rejected, Reply

        repo = self._writable(ctx)
        ref, sha = str(ctx.body["ref"]), str(ctx.body["sha"])
        if not ref.startswith("refs/heads/") or sha not in self.objects(*_key(repo)).commits:
            raise Rejected(422, "Reference update failed")
        branch = ref.removeprefix("refs/heads/")
        if branch in repo.branches:
            raise Rejected(422, "Reference already exists")
        if any(b.startswith(branch + "/") or branch.startswith(b + "/") for b in repo.branches):
            raise Rejected(422, f"Reference cannot be created: {ref} conflicts with a branch")
        self._move_branch(repo, branch, sha)
        return Reply(201, self._ref_json(repo, branch), {"location": f"{ref}"})

    def _op_git_update_ref(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Rejected, Reply

        repo = self._writable(ctx)
        ref, sha = str(ctx.p("ref")), str(ctx.body["sha"])
        branch = ref.removeprefix("heads/")
        store = self.objects(*_key(repo))
        if not ref.startswith("heads/") or branch not in repo.branches:
            raise Rejected(422, "Reference does not exist")
        if sha not in store.commits:
            raise Rejected(422, "Object does not exist")
        if not ctx.body.get("force") and not _is_ancestor(store, repo.branches[branch], sha):
            raise Rejected(422, "Update is not a fast forward")
        self._move_branch(repo, branch, sha)
        return Reply(200, self._ref_json(repo, branch))

    # -- pull requests ------------------------------------------------------------------------

    def _pull_json(self, repo: RepoState, issue: IssueState) -> dict[str, Any]:
        return self._json.pull(repo, issue, repo)

    def _op_pulls_list(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Reply

        repo = self._repo(ctx)
        state = ctx.match.query.get("state", "open")
        head = ctx.match.query.get("head")
        found = []
        for number in sorted(repo.issues, reverse=True):
            issue = repo.issues[number]
            if issue.pull is None or (state != "all" and issue.state != state):
                continue
            if head and head != f"{repo.owner}:{issue.pull.head_ref}":
                continue
            simple = self._pull_json(repo, issue)
            for label in simple["labels"]:  # `pull-request-simple` labels: description a string
                label["description"] = label["description"] or ""
            found.append(simple)
        return Reply(200, found, paginate=True)

    def _op_pulls_create(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Rejected, Reply

        repo = self._writable(ctx)
        head, base = str(ctx.body["head"]), str(ctx.body["base"])
        branch = head.split(":", 1)[-1]
        if branch not in repo.branches or base not in repo.branches:
            raise Rejected(422, "Validation Failed: head or base does not exist")
        for issue in repo.issues.values():
            if issue.pull and issue.state == "open" and issue.pull.head_ref == branch:
                raise Rejected(422, f"A pull request already exists for {repo.owner}:{branch}.")
        number = max(repo.issues, default=0) + 1
        issue = self.add_issue(
            repo.owner, repo.name, number, author=ctx.login, title=ctx.body.get("title", "")
        )
        issue.body = ctx.body.get("body")
        issue.pull = PullState(branch, repo.branches[branch], base, repo.branches[base])
        body = self._pull_json(repo, issue)
        return Reply(201, body, {"location": body["url"]})

    def _op_pulls_update(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Reply

        repo = self._writable(ctx)
        issue = self._pull_issue(ctx, repo)
        for key in ("title", "body", "state"):
            if key in ctx.body:
                setattr(issue, key, ctx.body[key])
        issue.updated_at = self.clock()
        return Reply(200, self._pull_json(repo, issue))

    def _op_pulls_list_commits(self, ctx: _Ctx) -> Reply:
        from tests.doubles.github_api import Reply

        repo = self._repo(ctx)
        issue = self._pull_issue(ctx, repo)
        assert issue.pull is not None
        store = self.objects(*_key(repo))
        base = repo.branches.get(issue.pull.base_ref, issue.pull.base_sha)
        shas = []
        sha: str | None = issue.pull.head_sha
        while sha is not None and sha in store.commits and not _is_ancestor(store, sha, base):
            shas.append(sha)
            parents = store.commits[sha].parents
            sha = parents[0] if parents else None
        entries = [self._list_commit_json(repo, s, store.commits[s]) for s in reversed(shas)]
        return Reply(200, entries, paginate=True)

    def _list_commit_json(self, repo: RepoState, sha: str, commit: GitCommit) -> dict[str, Any]:
        git = self._git_commit_json(repo, sha, commit)
        api = self._json.repo_url(repo)
        return {
            "url": f"{api}/commits/{sha}",
            "sha": sha,
            "node_id": git["node_id"],
            "html_url": git["html_url"],
            "comments_url": f"{api}/commits/{sha}/comments",
            "commit": {
                "url": git["url"],
                "author": commit.author,
                "committer": commit.committer,
                "message": commit.message,
                "comment_count": 0,
                "tree": git["tree"],
            },
            "author": None,
            "committer": None,
            "parents": [{"sha": p["sha"], "url": p["url"]} for p in git["parents"]],
        }


def _key(repo: RepoState) -> tuple[str, str]:
    return repo.owner, repo.name


def _is_ancestor(store: GitObjects, ancestor: str, descendant: str) -> bool:
    seen: set[str] = set()
    todo = [descendant]
    while todo:
        sha = todo.pop()
        if sha == ancestor:
            return True
        if sha in seen or sha not in store.commits:
            continue
        seen.add(sha)
        todo.extend(store.commits[sha].parents)
    return False
