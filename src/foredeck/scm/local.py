"""The `local` SCM provider: repositories on disk instead of GitHub.

Layout: `<scm.local_root>/ORG/REPO` is a git repository (with a work tree, or bare; a bare
`ORG/REPO.git` is found too). Pull request N of ORG/REPO is the branch `pr/N`, exactly (no
suffix: `pr/7-fix` is an ordinary branch), against `scm.local_base_branch`. It is open while
the branch exists; its author and title are those of the first commit on the branch that is not
on the base (`git log base..pr/N`), the author's login being the local part of their e-mail.

Trust: everything on this disk belongs to whoever can write to it, so every user is an org
member and a collaborator with `write` permission.

Where the GitHub state lives instead:
- commit statuses and PR comments: foredeck's database (`scm_statuses`, `scm_comments`);
- labels: one JSON file, `<local_root>/.foredeck-labels.json` (small, rarely written, shared by
  every foredeck process on the machine).

Database writes never wait for their commit. The trigger plugin calls `create_comment` inside
the event worker's transaction; on SQLite that transaction holds the only write lock, so a
second transaction awaited there would wait for ever. Writes are therefore queued to one writer
thread per client, which commits each in a short transaction of its own under `write_lock`, and
reads of the same client see its queued writes. Comment ids are allocated here, not by the
database, so that a new comment has its id at once.

Git runs with argv lists only, without the caller's `GIT_*` variables or any user or system
config; ORG, REPO, branch, ref and path arguments are validated first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import queue
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from foredeck.db.engine import read_only, session_factory, write_lock
from foredeck.db.models import ScmComment, ScmStatus
from foredeck.db.types import utcnow
from foredeck.scm.github import (
    MAX_FILE_BYTES,
    MAX_STATUS_DESCRIPTION,
    CommitStatus,
    GitHubError,
    IssueComment,
    Label,
    PullBranch,
    PullRequest,
    Repository,
    StatusState,
    User,
    truncate,
)
from foredeck.settings import Settings

log = logging.getLogger(__name__)

PR_BRANCH_PREFIX = "pr/"
GIT_TIMEOUT = 60.0
LABELS_FILE = ".foredeck-labels.json"
LABEL_COLOR = "ededed"
MAX_COMMENT_BYTES = 65536
"""GitHub's limit on a comment body."""
WRITE_ATTEMPTS = 3

NAME_PATTERN = r"^[A-Za-z0-9_](?:\.?[A-Za-z0-9_-])*\.?$"
"""An ORG or REPO name (with at most `MAX_NAME` characters): one path segment of letters,
digits, `_`, `.`, `-`, not hidden and without `..`. Also the API's pattern for them."""
MAX_NAME = 100
_NAME = re.compile(NAME_PATTERN)
_PR_BRANCH = re.compile(r"^pr/([1-9][0-9]{0,8})$")
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_REF_BAD = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.")
LOGIN_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$"
"""A GitHub login (a bot's ends in `[bot]`)."""
_LOGIN = re.compile(LOGIN_PATTERN)
_LOGIN_BAD = re.compile(r"[^A-Za-z0-9-]+")
_STATES = ("error", "failure", "pending", "success")


class LocalScmError(GitHubError):
    """What GitHub would have refused: `status` 404 (no such repository, pull request, ref or
    comment) or 422 (invalid input). A `GitHubError`, so callers written for GitHub handle it."""


# -- names ---------------------------------------------------------------------------------------


def valid_name(value: str) -> bool:
    """See `NAME_PATTERN`."""
    return len(value) <= MAX_NAME and _NAME.match(value) is not None


def check_name(kind: str, value: str) -> str:
    """An ORG or REPO name (`NAME_PATTERN`), or LocalScmError 422."""
    if not isinstance(value, str) or not valid_name(value):
        raise LocalScmError(422, f"invalid {kind} {value!r}: use letters, digits, '.', '_', '-'")
    return value


def check_branch(value: str) -> str:
    """A branch name git accepts that cannot be read as an option or escape `refs/heads/`."""
    if (
        not value
        or len(value) > 255
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or _REF_BAD.search(value)
    ):
        raise LocalScmError(422, f"invalid branch name {value!r}")
    return value


def check_sha(value: str) -> str:
    if not _SHA.match(value):
        raise LocalScmError(422, f"invalid commit sha {value!r}: expected 40 or 64 hex digits")
    return value


def check_path(value: str) -> str:
    """A file path inside the repository: relative, no `..`, no option-like first character."""
    parts = value.strip("/").split("/")
    if (
        not value.strip("/")
        or value.startswith("-")
        or any(p in ("", ".", "..") for p in parts)
        or any(ord(c) < 32 for c in value)
        or len(value) > 4096
    ):
        raise LocalScmError(422, f"invalid file path {value!r}")
    return "/".join(parts)


def pr_branch(number: int) -> str:
    """The branch of pull request `number`: `pr/N`."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise LocalScmError(422, f"invalid pull request number {number!r}")
    return f"{PR_BRANCH_PREFIX}{number}"


def pr_number(branch: str) -> int | None:
    """N when `branch` is exactly `pr/N`, else None."""
    found = _PR_BRANCH.match(branch)
    return int(found.group(1)) if found else None


PULL_REF_TEMPLATE = "refs/heads/pr/{number}"
"""The trigger plugin's `pull_ref` for local repositories (GitHub's: `refs/pull/{number}/head`)."""


def pull_ref(number: int) -> str:
    """The fetchable ref of pull request `number` (GitHub's is `refs/pull/N/head`)."""
    return PULL_REF_TEMPLATE.format(number=number)


def login_of(email: str, name: str) -> str:
    """A GitHub-like login for a commit author: the local part of the e-mail address."""
    local = email.split("@", 1)[0] if email else ""
    login = _LOGIN_BAD.sub("-", local or name).strip("-")[:39]
    return login or "unknown"


def user(login: str) -> User:
    """A user with a stable id derived from the login (GitHub's ids are numbers)."""
    digest = hashlib.sha256(login.lower().encode()).digest()
    return User(login=login, id=int.from_bytes(digest[:4], "big") & 0x7FFFFFFF, type="User")


_id_lock = threading.Lock()
_last_id = 0


def new_id() -> int:
    """A unique id for a comment or status row: seconds since the epoch and 22 random bits.

    Increasing within a process, unique across processes with overwhelming probability, and
    below 2**53 so that JavaScript reads it exactly.
    """
    global _last_id
    with _id_lock:
        candidate = (int(time.time()) << 22) | secrets.randbits(22)
        _last_id = max(candidate, _last_id + 1)
        return _last_id


def git_env() -> dict[str, str]:
    """Non-interactive git without the caller's `GIT_*` variables or any user/system config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C",
    )
    return env


# -- the repositories ----------------------------------------------------------------------------


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

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalRepos:
        return cls(settings.scm.local_root, settings.scm.local_base_branch)

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
        """What `git fetch` reads from: the repository's absolute path."""
        return str(self.repo_dir(org, repo))

    def repo_url(self, org: str, repo: str) -> str:
        return self.repo_dir(org, repo).as_uri()

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
        self, org: str, repo: str, args: Sequence[str], *, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        argv = ["git", f"--git-dir={self.git_dir(org, repo)}", *args]
        try:
            result = subprocess.run(
                argv,
                env=self._env,
                capture_output=True,
                timeout=self.timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LocalScmError(0, f"{org}/{repo}: git {args[0]} timed out") from None
        if check and result.returncode != 0:
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
        return heads

    def branch_sha(self, org: str, repo: str, branch: str) -> str | None:
        return self.resolve(org, repo, f"refs/heads/{check_branch(branch)}")

    def resolve(self, org: str, repo: str, rev: str) -> str | None:
        """The commit `rev` (a sha, `refs/...` name, branch or tag) points at; None if none."""
        if rev.startswith("-") or any(ord(c) < 33 for c in rev) or ".." in rev or not rev:
            raise LocalScmError(422, f"invalid ref {rev!r}")
        result = self.git(
            org, repo, ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], check=False
        )
        sha = result.stdout.decode().strip()
        return sha if result.returncode == 0 and sha else None

    def commit_exists(self, org: str, repo: str, sha: str) -> bool:
        return self.resolve(org, repo, check_sha(sha)) == sha

    def commits(self, org: str, repo: str, spec: Sequence[str], limit: int = 0) -> list[CommitInfo]:
        """`git log` of `spec` (such as `[base..head]`), oldest first."""
        args = ["log", "--reverse", f"--format={_LOG_FORMAT}"]
        if limit:
            args.insert(1, f"--max-count={limit}")
        out = self.git(org, repo, [*args, *spec, "--"]).stdout.decode("utf-8", "replace")
        found = []
        for record in out.split("\x1e"):
            fields = record.strip("\n").split("\x1f")
            if len(fields) != 6:
                continue
            sha, name, email, at, subject, message = fields
            found.append(
                CommitInfo(
                    sha=sha,
                    login=login_of(email, name),
                    name=name,
                    email=email,
                    subject=subject,
                    message=message.rstrip("\n"),
                    time=datetime.fromtimestamp(int(at), UTC),
                )
            )
        return found

    def commit(self, org: str, repo: str, sha: str) -> CommitInfo:
        found = self.commits(org, repo, ["-1", check_sha(sha)])
        if not found:
            raise LocalScmError(404, f"{org}/{repo}: no commit {sha}")
        return found[0]

    def is_ancestor(self, org: str, repo: str, ancestor: str, descendant: str) -> bool:
        args = ["merge-base", "--is-ancestor", check_sha(ancestor), check_sha(descendant)]
        return self.git(org, repo, args, check=False).returncode == 0

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
        if kind.returncode != 0:
            return None
        if kind.stdout.strip() != b"blob":
            raise LocalScmError(422, f"{path} is a {kind.stdout.decode().strip()}, not a file")
        size = int(self.git(org, repo, ["cat-file", "-s", spec]).stdout)
        if size > max_size:
            raise LocalScmError(422, f"{path} is {size} bytes, over the {max_size} byte limit")
        return self.git(org, repo, ["cat-file", "blob", spec]).stdout

    # GitHub-shaped views

    def repository(self, org: str, repo: str) -> Repository:
        repo_dir = self.repo_dir(org, repo)
        return Repository(
            name=repo,
            full_name=f"{org}/{repo}",
            owner=user(org).model_copy(update={"type": "Organization"}),
            private=True,
            html_url=repo_dir.as_uri(),
            clone_url=str(repo_dir),
            default_branch=self.base_branch,
        )

    def pull(self, org: str, repo: str, number: int, labels: Sequence[str] = ()) -> PullRequest:
        """Pull request `number`: the branch `pr/N`, open while it exists."""
        branch = pr_branch(number)
        head = self.branch_sha(org, repo, branch)
        if head is None:
            raise LocalScmError(
                404, f"{org}/{repo}: no pull request #{number} (no branch {branch})"
            )
        base = self.branch_sha(org, repo, self.base_branch)
        if base is None:
            raise LocalScmError(404, f"{org}/{repo}: no base branch {self.base_branch}")
        own = self.commits(org, repo, [f"{base}..{head}"])
        first = own[0] if own else self.commit(org, repo, head)
        last = own[-1] if own else first
        repository = self.repository(org, repo)
        author = user(first.login)
        return PullRequest(
            number=number,
            state="open",
            title=first.subject,
            body=first.message.partition("\n")[2].strip() or None,
            user=author,
            head=PullBranch(ref=branch, sha=head, label=f"{org}:{branch}", repo=repository),
            base=PullBranch(
                ref=self.base_branch, sha=base, label=f"{org}:{self.base_branch}", repo=repository
            ),
            labels=[Label(name=name, color=LABEL_COLOR) for name in labels],
            html_url=f"{repository.html_url}#{branch}",
            author_association="MEMBER",
            created_at=first.time,
            updated_at=last.time,
        )


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


# -- labels --------------------------------------------------------------------------------------


class LabelStore:
    """Labels of local pull requests in one JSON file, read and rewritten under `flock`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_suffix(".lock"), "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("local labels: cannot read %s (%s); starting empty", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): [str(x) for x in v] for k, v in data.items() if isinstance(v, list)}

    def _write(self, data: dict[str, list[str]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    @staticmethod
    def _key(org: str, repo: str, number: int) -> str:
        return f"{org}/{repo}#{number}"

    def get(self, org: str, repo: str, number: int) -> list[str]:
        with self._locked():
            return list(self._read().get(self._key(org, repo, number), []))

    def update(
        self, org: str, repo: str, number: int, add: Sequence[str] = (), remove: str | None = None
    ) -> list[str]:
        with self._locked():
            data = self._read()
            key = self._key(org, repo, number)
            names = data.get(key, [])
            lower = {n.lower() for n in names}
            for name in add:
                if name.lower() not in lower:
                    names.append(name)
                    lower.add(name.lower())
            if remove is not None:
                names = [n for n in names if n.lower() != remove.lower()]
            if names:
                data[key] = names
            else:
                data.pop(key, None)
            self._write(data)
            return list(names)


# -- database writes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommentRow:
    id: int
    org: str
    repo: str
    number: int
    author: str
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class _StatusRow:
    id: int
    org: str
    repo: str
    sha: str
    context: str
    state: str
    description: str | None
    target_url: str | None
    created_at: datetime
    updated_at: datetime


def comment_model(repos: LocalRepos, row: CommentRow) -> IssueComment:
    return IssueComment(
        id=row.id,
        body=row.body,
        user=user(row.author),
        html_url=f"{repos.root.as_uri()}/{row.org}/{row.repo}#pr/{row.number}-{row.id}",
        author_association="MEMBER",
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def check_comment(body: str, author: str) -> None:
    """A comment GitHub would take: at most 64 KiB, by a login-shaped author."""
    if len(body.encode("utf-8")) > MAX_COMMENT_BYTES:
        raise LocalScmError(422, f"comment body is over {MAX_COMMENT_BYTES} bytes")
    if not _LOGIN.match(author):
        raise LocalScmError(422, f"invalid comment author {author!r}")


_Op = Callable[[Session], None]


class _Writer:
    """One thread committing queued writes, each in a short transaction under `write_lock`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._queue: queue.SimpleQueue[tuple[_Op, Callable[[], None]] | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._outstanding = 0
        self._thread: threading.Thread | None = None

    def submit(self, op: _Op, done: Callable[[], None]) -> None:
        with self._cond:
            self._outstanding += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="foredeck-local-scm-writer", daemon=True
                )
                self._thread.start()
        self._queue.put((op, done))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued write is committed (or given up); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        with self._cond:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            op, done = item
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    with write_lock(self._engine), self._sessions() as s, s.begin():
                        op(s)
                    break
                except Exception:
                    if attempt + 1 == WRITE_ATTEMPTS:
                        log.exception("local SCM: a write failed %d times; dropped", attempt + 1)
                    else:
                        time.sleep(0.1 * (attempt + 1))
            done()
            with self._cond:
                self._outstanding -= 1
                self._cond.notify_all()


def _upsert_status(session: Session, row: _StatusRow) -> None:
    dialect = session.get_bind().dialect.name
    values = {
        "id": row.id,
        "org": row.org,
        "repo": row.repo,
        "sha": row.sha,
        "context": row.context,
        "state": row.state,
        "description": row.description,
        "target_url": row.target_url,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    changed = {k: values[k] for k in ("state", "description", "target_url", "updated_at")}
    keys = ["org", "repo", "sha", "context"]
    if dialect == "postgresql":
        pg = postgresql.insert(ScmStatus).values(values)
        session.execute(pg.on_conflict_do_update(index_elements=keys, set_=changed))
    else:
        lite = sqlite.insert(ScmStatus).values(values)
        session.execute(lite.on_conflict_do_update(index_elements=keys, set_=changed))


# -- the client ----------------------------------------------------------------------------------


class LocalScm:
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
    ) -> None:
        self.repos = LocalRepos(root, base_branch)
        self.bot_login = bot_login
        self._engine = engine
        self._reader = read_only(engine)
        self._labels = LabelStore(
            Path(labels_path) if labels_path else self.repos.root / LABELS_FILE
        )
        self._writer = _Writer(engine)
        self._pending_lock = threading.Lock()
        self._pending_comments: dict[int, tuple[int, CommentRow | None]] = {}
        self._pending_statuses: dict[tuple[str, str, str, str], tuple[int, _StatusRow]] = {}
        self._version = 0

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> LocalScm:
        scm = settings.scm
        return cls(
            scm.local_root, engine, base_branch=scm.local_base_branch, bot_login=scm.bot_login
        )

    def __repr__(self) -> str:
        return f"LocalScm(root={str(self.repos.root)!r})"

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.close)

    async def __aenter__(self) -> LocalScm:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every write of this client is committed (tests; shutdown)."""
        return self._writer.flush(timeout)

    def clone_uri(self, org: str, repo: str) -> str:
        """For `foredeck.scm.git.checkout(clone_uri=...)`: the repository's path."""
        return self.repos.clone_uri(org, repo)

    # pull requests and trust

    async def get_pull(self, owner: str, repo: str, number: int) -> PullRequest:
        def load() -> PullRequest:
            labels = self._labels.get(owner, repo, number)
            return self.repos.pull(owner, repo, number, labels)

        return await asyncio.to_thread(load)

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
        names = await asyncio.to_thread(self._labels.get, owner, repo, number)
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
        names = await asyncio.to_thread(self._labels.update, owner, repo, number, list(labels))
        return [Label(name=n, color=LABEL_COLOR) for n in names]

    async def remove_label(self, owner: str, repo: str, number: int, label: str) -> None:
        await self._require_issue(owner, repo, number)
        await asyncio.to_thread(self._labels.update, owner, repo, number, (), label)

    # comments

    def _comment_model(self, row: CommentRow) -> IssueComment:
        return comment_model(self.repos, row)

    def _read_comments(self, where: Any) -> list[CommentRow]:
        with session_factory(self._reader)() as s, s.begin():
            rows = s.execute(select(ScmComment).where(where)).scalars()
            return [
                CommentRow(
                    r.id, r.org, r.repo, r.number, r.author, r.body, r.created_at, r.updated_at
                )
                for r in rows
            ]

    def _comments(self, where: Any) -> dict[int, CommentRow]:
        """Committed rows matching `where`, with this client's queued writes applied.

        The queue is copied before the database is read: a write committed in between is then
        in the rows, and one still queued is in the copy.
        """
        with self._pending_lock:
            pending = {k: v for k, (_, v) in self._pending_comments.items()}
        found = {row.id: row for row in self._read_comments(where)}
        for comment_id, row in pending.items():
            if row is None:
                found.pop(comment_id, None)
            else:
                found[comment_id] = row
        return found

    def _queue(self, key: Any, store: dict[Any, tuple[int, Any]], value: Any, op: _Op) -> None:
        """Queue `op`; reads see `value` under `key` until it is committed."""
        with self._pending_lock:
            self._version += 1
            version = self._version
            store[key] = (version, value)

        def done() -> None:
            with self._pending_lock:
                if store.get(key, (None,))[0] == version:
                    del store[key]

        self._writer.submit(op, done)

    async def list_issue_comments(self, owner: str, repo: str, number: int) -> list[IssueComment]:
        await self._require_issue(owner, repo, number)
        rows = await asyncio.to_thread(
            self._comments,
            (ScmComment.org == owner) & (ScmComment.repo == repo) & (ScmComment.number == number),
        )
        merged = [
            row for row in rows.values() if (row.org, row.repo, row.number) == (owner, repo, number)
        ]
        merged.sort(key=lambda r: (r.created_at, r.id))
        return [self._comment_model(row) for row in merged]

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

        def insert(s: Session) -> None:
            s.add(ScmComment(**asdict(row)))

        self._queue(row.id, self._pending_comments, row, insert)
        return self._comment_model(row)

    async def _get_comment(self, owner: str, repo: str, comment_id: int) -> CommentRow:
        check_name("org", owner)
        check_name("repository", repo)
        rows = await asyncio.to_thread(self._comments, ScmComment.id == int(comment_id))
        row = rows.get(int(comment_id))
        if row is None or (row.org, row.repo) != (owner, repo):
            raise LocalScmError(404, f"{owner}/{repo}: no comment {comment_id}")
        return row

    async def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> IssueComment:
        check_comment(body, self.bot_login)
        old = await self._get_comment(owner, repo, comment_id)
        row = replace(old, body=body, updated_at=utcnow())

        def edit(s: Session) -> None:
            s.execute(
                update(ScmComment)
                .where(ScmComment.id == row.id)
                .values(body=row.body, updated_at=row.updated_at)
            )

        self._queue(row.id, self._pending_comments, row, edit)
        return self._comment_model(row)

    async def delete_comment(self, owner: str, repo: str, comment_id: int) -> None:
        """Delete a comment; one that is already gone is fine (as on GitHub's client)."""
        try:
            row = await self._get_comment(owner, repo, comment_id)
        except LocalScmError as exc:
            if exc.status == 404:
                return
            raise

        def remove(s: Session) -> None:
            s.execute(delete(ScmComment).where(ScmComment.id == row.id))

        self._queue(row.id, self._pending_comments, None, remove)

    # statuses

    def _read_statuses(self, org: str, repo: str, sha: str) -> list[_StatusRow]:
        with session_factory(self._reader)() as s, s.begin():
            rows = s.execute(
                select(ScmStatus).where(
                    ScmStatus.org == org, ScmStatus.repo == repo, ScmStatus.sha == sha
                )
            ).scalars()
            return [
                _StatusRow(
                    r.id,
                    r.org,
                    r.repo,
                    r.sha,
                    r.context,
                    r.state,
                    r.description,
                    r.target_url,
                    r.created_at,
                    r.updated_at,
                )
                for r in rows
            ]

    def _statuses(self, org: str, repo: str, sha: str) -> dict[str, _StatusRow]:
        with self._pending_lock:
            pending = {
                k[3]: v for k, (_, v) in self._pending_statuses.items() if k[:3] == (org, repo, sha)
            }
        found = {row.context: row for row in self._read_statuses(org, repo, sha)}
        found.update(pending)
        return found

    def _bot_status(self, row: _StatusRow) -> CommitStatus:
        return CommitStatus(
            id=row.id,
            state=row.state,  # type: ignore[arg-type]  # validated on the way in
            context=row.context,
            description=row.description,
            target_url=row.target_url,
            creator=user(self.bot_login),
            created_at=row.updated_at,
        )

    async def create_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        state: StatusState,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> CommitStatus:
        """Set the status of `context` on a commit (one row per context; the latest wins)."""
        if state not in _STATES:
            raise ValueError(f"invalid commit status state {state!r}")
        if not context or len(context) > 255:
            raise ValueError("commit status context must be 1 to 255 characters")
        check_sha(sha)
        if not await asyncio.to_thread(self.repos.commit_exists, owner, repo, sha):
            raise LocalScmError(422, f"{owner}/{repo}: no commit {sha}")
        existing = (await asyncio.to_thread(self._statuses, owner, repo, sha)).get(context)
        now = utcnow()
        row = _StatusRow(
            id=existing.id if existing else new_id(),
            org=owner,
            repo=repo,
            sha=sha,
            context=context,
            state=state,
            description=truncate(description, MAX_STATUS_DESCRIPTION),
            target_url=target_url or None,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        self._queue(
            (owner, repo, sha, context),
            self._pending_statuses,
            row,
            lambda s: _upsert_status(s, row),
        )
        return self._bot_status(row)

    async def list_commit_statuses(self, owner: str, repo: str, ref: str) -> list[CommitStatus]:
        """The status of each context on the commit `ref` names, newest first."""
        sha = await asyncio.to_thread(self.repos.resolve, owner, repo, ref)
        if sha is None:
            raise LocalScmError(404, f"{owner}/{repo}: no commit for {ref!r}")
        rows = await asyncio.to_thread(self._statuses, owner, repo, sha)
        ordered = sorted(rows.values(), key=lambda r: (r.updated_at, r.id), reverse=True)
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
