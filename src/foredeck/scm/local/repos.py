"""Read-only git queries on `<local_root>/ORG/REPO`: branches, commits, diffs and files.

Synchronous on purpose: `LocalScm` calls them in worker threads (`asyncio.to_thread`) and the
watcher in a thread of its own. Every ORG, REPO, branch, rev and path is validated
(`local.names`) before it reaches a path or git's argv; git runs through `scm.gitrun`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from foredeck.scm.github_types import MAX_FILE_BYTES
from foredeck.scm.gitrun import GitResult, git_env, run_git
from foredeck.scm.local.names import (
    LocalScmError,
    check_branch,
    check_name,
    check_path,
    check_rev,
    check_sha,
    login_of,
    valid_name,
)
from foredeck.settings import ScmSettings

GIT_TIMEOUT = 60.0
MAX_KNOWN_COMMITS = 200_000


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    login: str
    name: str
    email: str
    subject: str
    message: str
    time: datetime


@dataclass(frozen=True, slots=True)
class FileChanges:
    added: list[str]
    modified: list[str]
    removed: list[str]


_DIFF_TREE = "diff-tree -r --root -m --first-parent --no-renames --no-commit-id --name-status -z"
_LOG_FORMAT = "%H%x1f%an%x1f%ae%x1f%at%x1f%s%x1f%B%x1e"


class LocalRepos:
    """Synchronous, read-only git queries on `<root>/ORG/REPO`: shared by `LocalScm` and the
    watcher (which runs in a thread of its own)."""

    def __init__(self, root: str | Path, base_branch: str = "main", timeout: float = GIT_TIMEOUT):
        self.root = Path(root).absolute()
        self.base_branch = check_branch(base_branch)
        self.timeout = timeout
        self._env = git_env()
        self._known: set[tuple[str, str, str]] = set()
        """Commits seen to exist (branch heads listed, commits checked): they stay commits."""

    @classmethod
    def from_settings(cls, settings: ScmSettings) -> LocalRepos:
        return cls(settings.local_root, settings.local_base_branch)

    # locating repositories

    def repo_dir(self, org: str, repo: str) -> Path:
        """The repository's directory (`ORG/REPO`, else a bare `ORG/REPO.git`)."""
        base = self.root / check_name("org", org)
        for candidate in (base / check_name("repository", repo), base / f"{repo}.git"):
            if _git_dir_of(candidate) is not None:
                return candidate
        # Not where: the message reaches API clients, and the root is the server's business.
        raise LocalScmError(404, f"no git repository {org}/{repo}")

    def git_dir(self, org: str, repo: str) -> Path:
        found = _git_dir_of(self.repo_dir(org, repo))
        assert found is not None
        return found

    def clone_uri(self, org: str, repo: str) -> str:
        """What `git fetch` reads from: `ROOT/ORG/REPO`, or a bare `ROOT/ORG/REPO.git` when only
        that exists. Nothing is required to exist: a fetch from a missing one names it."""
        plain = self.root / org / repo
        bare = self.root / org / f"{repo}.git"
        return str(bare if not plain.exists() and bare.exists() else plain)

    def list_repos(self) -> list[tuple[str, str]]:
        """Every `ORG/REPO` under the root, sorted; names foredeck would refuse are skipped."""
        found: set[tuple[str, str]] = set()
        if not self.root.is_dir():
            return []
        for org_dir in self.root.iterdir():
            if not org_dir.is_dir() or not valid_name(org_dir.name):
                continue
            for repo_dir in org_dir.iterdir():
                name = repo_dir.name
                if name.endswith(".git") and not (repo_dir / ".git").exists():
                    name = name[: -len(".git")]
                if not valid_name(name) or _git_dir_of(repo_dir) is None:
                    continue
                found.add((org_dir.name, name))
        return sorted(found)

    # git

    def git(
        self,
        org: str,
        repo: str,
        args: Sequence[str],
        *,
        check: bool = True,
        stdin: bytes | None = None,
    ) -> GitResult:
        result = run_git(
            [f"--git-dir={self.git_dir(org, repo)}", *args],
            env=self._env,
            timeout=self.timeout,
            stdin=stdin,
        )
        if result.timed_out:
            raise LocalScmError(0, f"{org}/{repo}: git {args[0]} timed out")
        if check and result.rc != 0:
            err = result.stderr.decode("utf-8", "replace").strip()[:500]
            raise LocalScmError(0, f"{org}/{repo}: git {args[0]} failed: {err}")
        return result

    def branches(self, org: str, repo: str) -> dict[str, str]:
        """Every branch and the commit it points at."""
        out = self.git(
            org,
            repo,
            ["for-each-ref", "--format=%(refname:lstrip=2)%00%(objectname)", "refs/heads/"],
        ).stdout.decode("utf-8", "replace")
        heads: dict[str, str] = {}
        for line in out.splitlines():
            name, _, sha = line.partition("\0")
            if name and sha:
                heads[name] = sha
        self._remember(org, repo, heads.values())
        return heads

    def _remember(self, org: str, repo: str, shas: Iterable[str]) -> None:
        if len(self._known) > MAX_KNOWN_COMMITS:
            self._known.clear()
        self._known.update((org, repo, sha) for sha in shas)

    def branch_sha(self, org: str, repo: str, branch: str) -> str | None:
        return self.resolve(org, repo, f"refs/heads/{check_branch(branch)}")

    def resolve(self, org: str, repo: str, rev: str) -> str | None:
        """The commit `rev` (a sha, `refs/...` name, branch or tag) points at; None if none."""
        check_rev(rev)
        result = self.git(
            org, repo, ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], check=False
        )
        sha = result.stdout.decode().strip()
        return sha if result.rc == 0 and sha else None

    def commit_exists(self, org: str, repo: str, sha: str) -> bool:
        if (org, repo, sha) in self._known:
            return True
        found = self.resolve(org, repo, check_sha(sha)) == sha
        if found:
            self._remember(org, repo, [sha])
        return found

    def commits(self, org: str, repo: str, spec: Sequence[str], limit: int = 0) -> list[CommitInfo]:
        """`git log` of `spec` (such as `[base..head]`), oldest first."""
        args = ["log", "--reverse", f"--format={_LOG_FORMAT}"]
        if limit:
            args.insert(1, f"--max-count={limit}")
        out = self.git(org, repo, [*args, *spec, "--"]).stdout.decode("utf-8", "replace")
        return [info for info, _ in _parse_log(out, parents=False)]

    def first_parents(
        self, org: str, repo: str, heads: Sequence[str], base: str
    ) -> dict[str, tuple[CommitInfo, str | None]]:
        """Every commit reachable from `heads` but not from `base`, with its first parent: one
        `git log` for all the pull requests of a repository."""
        if not heads:
            return {}
        spec = "".join(f"{check_sha(h)}\n" for h in heads) + f"^{check_sha(base)}\n"
        args = ["log", f"--format=%H%x1f%P{_LOG_FORMAT[2:]}", "--stdin"]
        out = self.git(org, repo, args, stdin=spec.encode()).stdout.decode("utf-8", "replace")
        return {info.sha: (info, parent) for info, parent in _parse_log(out, parents=True)}

    def commit(self, org: str, repo: str, sha: str) -> CommitInfo:
        found = self.commits(org, repo, ["-1", check_sha(sha)])
        if not found:
            raise LocalScmError(404, f"{org}/{repo}: no commit {sha}")
        return found[0]

    def is_ancestor(self, org: str, repo: str, ancestor: str, descendant: str) -> bool:
        args = ["merge-base", "--is-ancestor", check_sha(ancestor), check_sha(descendant)]
        return self.git(org, repo, args, check=False).rc == 0

    def changes(self, org: str, repo: str, sha: str) -> FileChanges:
        """Files a commit added, modified and removed (against its first parent)."""
        out = self.git(
            org,
            repo,
            [*_DIFF_TREE.split(), check_sha(sha)],
        ).stdout.decode("utf-8", "replace")
        fields = [f for f in out.split("\0") if f]
        added: list[str] = []
        modified: list[str] = []
        removed: list[str] = []
        for status, path in zip(fields[0::2], fields[1::2], strict=False):
            {"A": added, "D": removed}.get(status[:1], modified).append(path)
        return FileChanges(added, modified, removed)

    def diff_names(self, org: str, repo: str, base: str, head: str) -> list[str]:
        """Paths changed between the merge base of `base` and `head`, and `head`."""
        out = self.git(
            org,
            repo,
            ["diff", "--name-only", "-z", "--no-renames", f"{check_sha(base)}...{check_sha(head)}"],
        ).stdout.decode("utf-8", "replace")
        return [p for p in out.split("\0") if p]

    def read_file(
        self, org: str, repo: str, path: str, rev: str, max_size: int = MAX_FILE_BYTES
    ) -> bytes | None:
        """A file's bytes at `rev`; None if there is no such file (or no such ref)."""
        sha = self.resolve(org, repo, rev)
        if sha is None:
            return None
        spec = f"{sha}:{check_path(path)}"
        kind = self.git(org, repo, ["cat-file", "-t", spec], check=False)
        if kind.rc != 0:
            return None
        if kind.stdout.strip() != b"blob":
            raise LocalScmError(422, f"{path} is a {kind.stdout.decode().strip()}, not a file")
        size = int(self.git(org, repo, ["cat-file", "-s", spec]).stdout)
        if size > max_size:
            raise LocalScmError(422, f"{path} is {size} bytes, over the {max_size} byte limit")
        return self.git(org, repo, ["cat-file", "blob", spec]).stdout


def _parse_log(out: str, *, parents: bool) -> list[tuple[CommitInfo, str | None]]:
    """Records of `_LOG_FORMAT` (preceded by `%P` when `parents`): each commit and its first
    parent."""
    found = []
    for record in out.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        parent: str | None = None
        if parents and len(fields) == 7:
            parent = fields.pop(1).split(" ")[0] or None
        if len(fields) != 6:
            continue
        sha, name, email, at, subject, message = fields
        info = CommitInfo(
            sha=sha,
            login=login_of(email, name),
            name=name,
            email=email,
            subject=subject,
            message=message.rstrip("\n"),
            time=datetime.fromtimestamp(int(at), UTC),
        )
        found.append((info, parent))
    return found


def _git_dir_of(path: Path) -> Path | None:
    """The git directory of a work tree (`.git` directory or `gitdir:` file) or a bare repo."""
    if not path.is_dir():
        return None
    dot = path / ".git"
    if dot.is_dir():
        return dot
    if dot.is_file():
        try:
            text = dot.read_text(encoding="utf-8", errors="replace")[:4096]
        except OSError:
            return None
        if text.startswith("gitdir:"):
            target = Path(text[len("gitdir:") :].strip())
            target = target if target.is_absolute() else path / target
            return target if target.is_dir() else None
        return None
    if (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir():
        return path
    return None
