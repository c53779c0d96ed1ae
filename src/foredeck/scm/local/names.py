"""What the local provider accepts as ORG, REPO, branch, sha, path, pull request and login.

Every argument that reaches a path or git's argv passes one of these first, so a name can
neither escape `local_root` nor be read by git as an option; refusals are `LocalScmError` 422,
what GitHub would answer.
"""

from __future__ import annotations

import re

from foredeck.scm.github_types import LOGIN, GitHubError
from foredeck.scm.gitrun import valid_ref_name, valid_sha

NAME_PATTERN = r"^[A-Za-z0-9_](?:\.?[A-Za-z0-9_-])*\.?$"
"""An ORG or REPO name (with at most `MAX_NAME` characters): one path segment of letters,
digits, `_`, `.`, `-`, not hidden and without `..`. Also the API's pattern for them."""
MAX_NAME = 100
MAX_COMMENT_BYTES = 65536
"""GitHub's limit on a comment body."""
PR_BRANCH_PREFIX = "pr/"
PULL_REF_TEMPLATE = "refs/heads/pr/{number}"
"""The fetchable ref of a local pull request (GitHub's: `refs/pull/{number}/head`)."""

_NAME = re.compile(NAME_PATTERN)
_LOGIN_BAD = re.compile(r"[^A-Za-z0-9-]+")
_PR_BRANCH = re.compile(r"^pr/([1-9][0-9]{0,8})$")


class LocalScmError(GitHubError):
    """What GitHub would have refused: `status` 404 (no such repository, pull request, ref or
    comment) or 422 (invalid input). A `GitHubError`, so callers written for GitHub handle it."""


def valid_name(value: str) -> bool:
    """See `NAME_PATTERN`."""
    return len(value) <= MAX_NAME and _NAME.match(value) is not None


def check_name(kind: str, value: str) -> str:
    """An ORG or REPO name (`NAME_PATTERN`), or LocalScmError 422."""
    if not isinstance(value, str) or not valid_name(value):
        raise LocalScmError(422, f"invalid {kind} {value!r}: use letters, digits, '.', '_', '-'")
    return value


def check_branch(value: str) -> str:
    """A branch name git accepts (`gitrun.valid_ref_name`)."""
    if not valid_ref_name(value):
        raise LocalScmError(422, f"invalid branch name {value!r}")
    return value


def check_rev(value: str) -> str:
    """A revision to resolve: a (possibly abbreviated) sha or a ref name."""
    if not (valid_sha(value, abbreviated=True) or valid_ref_name(value)):
        raise LocalScmError(422, f"invalid ref {value!r}")
    return value


def check_sha(value: str) -> str:
    if not valid_sha(value):
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


def check_comment(body: str, author: str) -> None:
    """A comment GitHub would take: at most 64 KiB, by a login-shaped author."""
    if len(body.encode("utf-8")) > MAX_COMMENT_BYTES:
        raise LocalScmError(422, f"comment body is over {MAX_COMMENT_BYTES} bytes")
    if not LOGIN.fullmatch(author):
        raise LocalScmError(422, f"invalid comment author {author!r}")


def check_login(login: str) -> str:
    if not isinstance(login, str) or not LOGIN.fullmatch(login):
        raise LocalScmError(422, f"invalid login {str(login)[:60]!r}")
    return login


def pr_branch(number: int) -> str:
    """The branch of pull request `number`: `pr/N`."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise LocalScmError(422, f"invalid pull request number {number!r}")
    return f"{PR_BRANCH_PREFIX}{number}"


def pr_number(branch: str) -> int | None:
    """N when `branch` is exactly `pr/N`, else None."""
    found = _PR_BRANCH.match(branch)
    return int(found.group(1)) if found else None


def pull_ref(number: int) -> str:
    """The fetchable ref of pull request `number` (GitHub's is `refs/pull/N/head`)."""
    return PULL_REF_TEMPLATE.format(number=number)


def login_of(email: str, name: str) -> str:
    """A GitHub-like login for a commit author: the local part of the e-mail address."""
    local = email.split("@", 1)[0] if email else ""
    login = _LOGIN_BAD.sub("-", local or name).strip("-")[:39]
    return login or "unknown"
