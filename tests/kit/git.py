"""Real git repositories for tests: a work tree with `main`, topic branches, pull heads.

Commits are made with a fixed identity and without the user's or the system's git config, so
that shas and authors do not depend on the machine.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path


def git_env(name: str = "Alice", email: str = "alice@example.com") -> dict[str, str]:
    """This process's environment without its `GIT_*` variables, committing as `name`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email,
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email,
    )
    return env


def git(cwd: Path, *args: str, author: str = "alice") -> str:
    """Run git in `cwd` as `author` (`<author>@example.com`); its output, stripped."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=git_env(author.capitalize(), f"{author}@example.com"),
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


class Repo:
    """A work-tree repository with branch `main`, optionally with a first commit of `files`.

    Pull requests look as on GitHub (`refs/pull/N/head`, see `pull`) or as the local provider
    sees them (a branch `pr/N`, see `topic`)."""

    def __init__(
        self, path: Path, files: Mapping[str, str] | None = None, message: str = "first"
    ) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        if files is not None:
            self.commit(message, dict(files))

    def git(self, *args: str, author: str = "alice") -> str:
        return git(self.path, *args, author=author)

    def commit(
        self,
        message: str,
        files: Mapping[str, str | None],
        *,
        branch: str | None = None,
        author: str = "alice",
    ) -> str:
        """Commit `files` (None removes one) on `branch` (created from the current one if new;
        the work tree stays on it), else on the current branch; returns the new sha."""
        if branch is not None:
            exists = self.git("branch", "--list", branch)
            self.git("checkout", "-q", *(() if exists else ("-b",)), branch)
        for name, content in files.items():
            if content is None:
                self.git("rm", "-q", name)
                continue
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            self.git("add", name)
        self.git("commit", "-q", "-m", message, author=author)
        return self.head()

    def topic(
        self, branch: str, files: Mapping[str, str | None], message: str, *, base: str = "main"
    ) -> str:
        """Commit on `branch` (created from `base` if new) and go back to `main`; the sha.

        The commit is made on a detached HEAD and the branch moved to it in one step: a watcher
        never sees the branch at an in-between commit (which would start extra runs)."""
        start = branch if self.git("branch", "--list", branch) else base
        self.git("checkout", "-q", "--detach", start)
        head = self.commit(message, files)
        self.git("update-ref", f"refs/heads/{branch}", head)
        self.checkout("main")
        return head

    def pull(
        self,
        number: int,
        files: Mapping[str, str | None],
        message: str | None = None,
        *,
        base: str = "main",
    ) -> str:
        """A commit on pull request `number` (branch `pr-N` from `base` if new), published as
        `refs/pull/N/head` as GitHub does on every push; the head sha."""
        head = self.topic(f"pr-{number}", files, message or f"PR {number}", base=base)
        self.git("update-ref", f"refs/pull/{number}/head", head)
        return head

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", rev)

    def checkout(self, branch: str) -> None:
        self.git("checkout", "-q", branch)

    def delete_branch(self, branch: str) -> None:
        self.checkout("main")
        self.git("branch", "-q", "-D", branch)

    def merge(self, branch: str) -> str:
        self.checkout("main")
        self.git("merge", "-q", "--ff-only", branch)
        return self.head()


def local_pull_request(root: Path, number: int = 1) -> Repo:
    """`acme/widget` under the local provider's `root`: `main` and pull request `number` (branch
    `pr/N`, one commit ahead)."""
    repo = Repo(root / "acme" / "widget", {"README": "hi\n"})
    repo.topic(f"pr/{number}", {"README": "hi there\n"}, "Say more")
    return repo
