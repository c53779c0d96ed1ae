"""What a bot needs to propose a change: a checkout of a branch it may edit, and its push.

Both providers offer `checkout_tree(owner, repo, base, paths, dest)`: the files of `base` under
`paths` written to `dest` (the local provider: a git clone; GitHub: the files fetched through the
Git Data API). Its `push` makes one commit of what changed under `dest` on top of `base` and
force-moves a branch to it (a git push; on GitHub a blob, tree and commit and a forced ref
update), so a bump branch always holds exactly one commit by foredeck.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

MAX_TREE_FILES = 20_000
"""A checkout refuses a tree with more files under its paths: manifests, not a monorepo."""

MAX_CHECKOUT_BYTES = 200 * 1024 * 1024
"""... or more bytes than this."""


@dataclass(frozen=True, slots=True)
class GitIdentity:
    """Who a commit is by (author and committer alike)."""

    name: str
    email: str


@dataclass(frozen=True, slots=True)
class CommitPeople:
    """One commit of a pull request and who made it."""

    sha: str
    author_email: str
    committer_email: str


class Checkout(Protocol):
    """Files of a base commit in `root`, to edit in place and push as one commit."""

    @property
    def root(self) -> Path: ...

    @property
    def base_sha(self) -> str: ...

    async def push(
        self, branch: str, message: str, identity: GitIdentity, current: str | None = None
    ) -> str | None:
        """Commit what changed under `root` on the base commit and force `branch` to it; the
        new commit's sha, or None (and nothing pushed) when nothing changed. When `current`
        (the branch's commit) already is that change on the same base, it is kept: the same
        bump twice pushes once."""
        ...


def check_relative(raw: str) -> str:
    """A relative POSIX path without `..` (a file of a tree is written there)."""
    path = PurePosixPath(raw.strip("/") or ".")
    if path.is_absolute() or ".." in path.parts or not raw.strip():
        raise ValueError(f"invalid path {raw!r}: relative, without '..'")
    return path.as_posix()


def check_paths(paths: list[str] | tuple[str, ...]) -> list[str]:
    """What a checkout covers: each path (relative, without `..`) as the literal directory or
    file it names, a glob cut before its first component with a wildcard (`charts/*/values.yaml`
    covers `charts`); `["."]` (the whole tree) when none are given. The edit selects within."""
    checked = []
    for raw in paths or ["."]:
        path = PurePosixPath(check_relative(raw))
        literal = []
        for part in path.parts:
            if any(c in part for c in "*?["):
                break
            literal.append(part)
        checked.append(PurePosixPath(*literal).as_posix() if literal else ".")
    return checked


def under(path: str, paths: list[str]) -> bool:
    """Whether `path` is one of `paths` or inside one of them."""
    return any(p == "." or path == p or path.startswith(p + "/") for p in paths)
