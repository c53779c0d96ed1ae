"""Pull request writes and branch pushes on the local repositories, as on GitHub.

A mixin of `LocalScm`. Opening a pull request from branch B makes the next `pr/N` at B's commit
and records that `pr/N` follows B (`local.pullmeta`); a push to B moves `pr/N` with it, as
GitHub's pull request follows its head branch. Its title and body are the recorded ones.
Closing deletes `pr/N` (the watcher reports it closed). A checkout is a `git clone` of the
base branch; its push is a real `git push --force` into the repository, so the repository's
hooks (a `pre-receive` that refuses, say) decide as they would for anyone.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from foredeck.scm.branches import CommitPeople, GitIdentity, check_paths, under
from foredeck.scm.github_types import PullRequest
from foredeck.scm.gitrun import git_env, run_git
from foredeck.scm.local.names import (
    LocalScmError,
    check_branch,
    check_sha,
    pr_branch,
    pr_number,
)
from foredeck.scm.local.pullmeta import PullMeta
from foredeck.scm.local.pulls import LocalPulls
from foredeck.scm.local.repos import GIT_TIMEOUT, LocalRepos


class LocalPullWrites:
    """Open, find, edit and close local pull requests; check out and push a branch."""

    pulls: LocalPulls
    repos: LocalRepos

    def _open_numbers(self, org: str, repo: str) -> list[int]:
        found = (pr_number(b) for b in self.repos.branches(org, repo))
        return sorted((n for n in found if n is not None), reverse=True)

    def _open_pulls(self, org: str, repo: str, head: str | None) -> list[PullRequest]:
        if head is None:
            return self.pulls.open_pulls(org, repo)
        meta = self.pulls.meta.of_repo(org, repo)
        numbers = [n for n in self._open_numbers(org, repo) if n in meta and meta[n].head == head]
        return [self.pulls.pull(org, repo, n) for n in numbers]

    async def list_open_pulls(
        self, owner: str, repo: str, head: str | None = None
    ) -> list[PullRequest]:
        """Open pull requests, newest first; only those following branch `head` when given."""
        return await asyncio.to_thread(self._open_pulls, owner, repo, head)

    def _create(self, org: str, repo: str, title: str, body: str, head: str, base: str) -> int:
        repos = self.repos
        sha = repos.branch_sha(org, repo, check_branch(head))
        if sha is None or repos.branch_sha(org, repo, check_branch(base)) is None:
            raise LocalScmError(422, f"{org}/{repo}: no branch {head} or {base}")
        if self._open_pulls(org, repo, head):
            raise LocalScmError(422, f"{org}/{repo}: a pull request already exists for {head}")
        known = set(self.pulls.meta.of_repo(org, repo)) | set(self._open_numbers(org, repo))
        number = max(known, default=0) + 1
        self.pulls.meta.put(org, repo, number, PullMeta(head, title, body))
        # "" as the old value: create only, never move someone else's `pr/N`
        repos.git(org, repo, ["update-ref", f"refs/heads/{pr_branch(number)}", sha, ""])
        return number

    async def create_pull(
        self, owner: str, repo: str, *, title: str, body: str, head: str, base: str
    ) -> PullRequest:
        if base != self.repos.base_branch:
            raise LocalScmError(422, f"local pull requests are against {self.repos.base_branch}")
        number = await asyncio.to_thread(self._create, owner, repo, title, body, head, base)
        return await asyncio.to_thread(self.pulls.pull, owner, repo, number)

    def _update(
        self,
        org: str,
        repo: str,
        number: int,
        title: str | None,
        body: str | None,
        state: str | None,
    ) -> PullRequest:
        pr = self.pulls.pull(org, repo, number)  # 404 unless open
        old = self.pulls.meta.get(org, repo, number) or PullMeta(
            pr.head.ref, pr.title, pr.body or ""
        )
        new = PullMeta(
            old.head, old.title if title is None else title, old.body if body is None else body
        )
        self.pulls.meta.put(org, repo, number, new)
        if state == "closed":
            self.repos.git(
                org, repo, ["update-ref", "-d", f"refs/heads/{pr_branch(number)}", pr.head.sha]
            )
            return pr.model_copy(update={"state": "closed", "title": new.title, "body": new.body})
        return self.pulls.pull(org, repo, number)

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
        """Change a pull request's title, body or state (`closed` deletes its `pr/N`)."""
        return await asyncio.to_thread(self._update, owner, repo, number, title, body, state)

    def _commits(self, org: str, repo: str, number: int) -> list[CommitPeople]:
        pr = self.pulls.pull(org, repo, number)
        spec = f"{pr.base.sha}..{pr.head.sha}"
        out = self.repos.git(
            org, repo, ["log", "--reverse", "--format=%H%x1f%ae%x1f%ce", spec, "--"]
        )
        found = []
        for line in out.stdout.decode("utf-8", "replace").splitlines():
            sha, author, committer = [*line.split("\x1f"), "", ""][:3]
            found.append(CommitPeople(sha, author, committer))
        return found

    async def list_pull_commits(self, owner: str, repo: str, number: int) -> list[CommitPeople]:
        return await asyncio.to_thread(self._commits, owner, repo, number)

    def follow_branch(self, org: str, repo: str, branch: str, sha: str) -> None:
        """Move the `pr/N` of every open pull request whose head is `branch` to `sha`."""
        for number, meta in self.pulls.meta.of_repo(org, repo).items():
            old = self.repos.branch_sha(org, repo, pr_branch(number))
            if meta.head == branch and old is not None:
                self.repos.git(
                    org, repo, ["update-ref", f"refs/heads/{pr_branch(number)}", sha, old]
                )

    def _clone(self, org: str, repo: str, base: str, paths: list[str], dest: Path) -> LocalCheckout:
        source = self.repos.repo_dir(org, repo)  # 404: no such repository
        args = ["clone", "--quiet", "--no-tags", "--single-branch", "--branch", check_branch(base)]
        result = run_git([*args, "--", str(source), str(dest)], env=git_env(), timeout=GIT_TIMEOUT)
        if result.rc != 0:
            err = result.stderr.decode("utf-8", "replace").strip()[:500]
            raise LocalScmError(404, f"{org}/{repo}: cannot check out {base}: {err}")
        sha = git_in(dest, ["rev-parse", "HEAD"]).strip()
        return LocalCheckout(self, org, repo, dest, sha, paths)

    async def checkout_tree(
        self, owner: str, repo: str, base: str, paths: list[str], dest: Path
    ) -> LocalCheckout:
        """A clone of branch `base` in `dest`: the whole tree, but only changes under `paths`
        are pushed."""
        checked = check_paths(paths)
        return await asyncio.to_thread(self._clone, owner, repo, base, checked, dest)


class LocalCheckout:
    """A clone of a local repository's base branch; `push` commits and force-pushes."""

    def __init__(
        self,
        writes: LocalPullWrites,
        org: str,
        repo: str,
        root: Path,
        base_sha: str,
        paths: list[str],
    ) -> None:
        self._writes = writes
        self._org, self._repo = org, repo
        self.root = root
        self.base_sha = base_sha
        self._paths = paths

    def _push(
        self, branch: str, message: str, identity: GitIdentity, current: str | None
    ) -> str | None:
        root = self.root
        if not self._stage():
            return None
        people = {
            "GIT_AUTHOR_NAME": identity.name,
            "GIT_AUTHOR_EMAIL": identity.email,
            "GIT_COMMITTER_NAME": identity.name,
            "GIT_COMMITTER_EMAIL": identity.email,
        }
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".msg") as msg:
            msg.write(message)
            msg.flush()
            git_in(root, ["commit", "--quiet", "--no-verify", f"--file={msg.name}"], people)
        sha = git_in(root, ["rev-parse", "HEAD"]).strip()
        if current is not None and self._same(current, git_in(root, ["rev-parse", "HEAD^{tree}"])):
            return current
        ref = f"HEAD:refs/heads/{check_branch(branch)}"
        result = run_git(
            ["push", "--force", "--quiet", "origin", ref],
            env=git_env(),
            timeout=GIT_TIMEOUT,
            cwd=root,
        )
        if result.rc != 0:
            err = result.stderr.decode("utf-8", "replace").strip()[:800]
            status = 409 if "cannot lock ref" in err or "exists; cannot create" in err else 403
            raise LocalScmError(
                status, f"{self._org}/{self._repo}: push of {branch} refused: {err}"
            )
        self._writes.follow_branch(self._org, self._repo, branch, sha)
        return sha

    def _stage(self) -> bool:
        """Stage what changed under the paths (as on GitHub, where nothing else is checked
        out); whether anything did."""
        args = ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]
        records = git_in(self.root, args).split("\0")
        wanted = [r[3:] for r in records if len(r) > 3 and under(r[3:], self._paths)]
        if not wanted:
            return False
        add = ["--literal-pathspecs", "add", "--all", "--pathspec-from-file=-"]
        stdin = "\0".join(wanted).encode()
        result = run_git(
            [*add, "--pathspec-file-nul"],
            env=git_env(),
            timeout=GIT_TIMEOUT,
            cwd=self.root,
            stdin=stdin,
        )
        if result.rc != 0:
            raise LocalScmError(
                0, f"git add failed: {result.stderr.decode('utf-8', 'replace')[:500]}"
            )
        return True

    def _same(self, current: str, tree: str) -> bool:
        """Whether commit `current` of the repository is `tree` on this checkout's base."""
        args = ["show", "--no-patch", "--format=%T %P", check_sha(current)]
        found = self._writes.repos.git(self._org, self._repo, args, check=False)
        return found.rc == 0 and found.stdout.decode().split() == [tree.strip(), self.base_sha]

    async def push(
        self, branch: str, message: str, identity: GitIdentity, current: str | None = None
    ) -> str | None:
        return await asyncio.to_thread(self._push, branch, message, identity, current)


def git_in(cwd: Path | None, args: list[str], env: dict[str, str] | None = None) -> str:
    """`git ARGS` in `cwd` (a clone of ours); its output, or `LocalScmError`."""
    result = run_git(args, env=git_env(env), timeout=GIT_TIMEOUT, cwd=cwd)
    if result.rc != 0:
        err = result.stderr.decode("utf-8", "replace").strip()[:500]
        raise LocalScmError(0, f"git {args[0]} failed: {err}")
    return result.stdout.decode("utf-8", "replace")
