"""What a bump pull request is, without any SCM: its edit, branch, texts and policies.

A bump is an *edit* of a checked-out manifests tree (`EditFn`: the engine's `plan_bump` and
`apply`, or any callable) proposed as one pull request per group on the branch
`foredeck/bump/<group>`, force-pushed with each new build, so that builds never pile up as one
pull request each. The pull request's body ends with a marker (`<!-- foredeck-bump ... -->`)
naming its group and the first source commit it carried: that is how a later bump finds a
superseded pull request of the same group under another branch, and how the body links the
range of source commits the pull request now covers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

EditFn = Callable[[Path], list[str]]
"""Edits a working tree in place; returns one line per change (`path: old -> new`), none when
everything is already current."""

Policy = Literal["overwrite", "leave"]
"""What a bump does to its branch when someone else committed to it: `overwrite` it (the
default; the overwritten commits are named in a comment) or `leave` it and comment."""

POLICIES: tuple[Policy, ...] = ("overwrite", "leave")
BRANCH_PREFIX = "foredeck/bump/"
MAX_CHANGE_LINES = 200
"""Changes listed in a body; more are counted, not listed (GitHub caps a body at 65536)."""
MAX_LINE = 300
"""Characters of one change line in a body or a comment; longer ones are cut with `...`."""

_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_MARKER = re.compile(r"<!-- foredeck-bump group=(\S+) from=(\S*) -->")


def check_group(group: str) -> str:
    """A group names a branch: letters, digits, `.`, `_`, `-`; at most 100."""
    if not _GROUP.fullmatch(group) or group.endswith((".", ".lock")) or ".." in group:
        raise ValueError(f"invalid bump group {group!r}: letters, digits, '.', '_', '-'")
    return group


def bump_branch(group: str) -> str:
    return BRANCH_PREFIX + check_group(group)


@dataclass(frozen=True, slots=True)
class Source:
    """The commit whose build is being deployed, and where its commits can be compared."""

    repo: str
    sha: str
    range_url: Callable[[str, str], str | None] | None = None
    """(from sha, to sha) -> a web page of the commits in between, when the SCM has one."""


@dataclass(frozen=True, slots=True)
class BumpRequest:
    """One bump: the manifests repository `ORG/REPO`, its base branch and what to change."""

    repo: str
    group: str
    edit: EditFn
    title: str
    body: str = ""
    base: str = "main"
    paths: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    policy: Policy = "overwrite"
    source: Source | None = None
    branch: str = ""
    """Default `foredeck/bump/<group>`."""

    def __post_init__(self) -> None:
        check_group(self.group)
        if self.policy not in POLICIES:
            raise ValueError(f"invalid policy {self.policy!r}: one of {', '.join(POLICIES)}")
        if self.repo.count("/") != 1:
            raise ValueError(f"invalid repository {self.repo!r}: ORG/REPO")
        if not self.branch:
            object.__setattr__(self, "branch", bump_branch(self.group))

    @property
    def owner_name(self) -> tuple[str, str]:
        owner, _, name = self.repo.partition("/")
        return owner, name


Action = Literal["opened", "updated", "current", "left"]


@dataclass(slots=True)
class BumpOutcome:
    """What a bump did: `opened` or `updated` its pull request, found the manifests `current`
    (no pull request; a moot one closed), or `left` a branch someone else edited."""

    action: Action
    number: int | None = None
    url: str = ""
    sha: str | None = None
    changes: list[str] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    """Pull requests closed: superseded ones, or the moot one."""


def marker(group: str, first_source: str) -> str:
    return f"<!-- foredeck-bump group={group} from={first_source} -->"


def read_marker(body: str | None) -> tuple[str, str] | None:
    """(group, first source sha) of a bump pull request's body; None for any other body."""
    found = _MARKER.search(body or "")
    return (found.group(1), found.group(2)) if found else None


def render_body(request: BumpRequest, changes: Sequence[str], previous_body: str | None) -> str:
    """The body: the caller's text, the changes (old -> new), the source range, the marker."""
    lines = [request.body.strip(), ""] if request.body.strip() else []
    lines.append("Changes:")
    lines += [f"- `{_cut(change)}`" for change in changes[:MAX_CHANGE_LINES]]
    if len(changes) > MAX_CHANGE_LINES:
        lines.append(f"- ... and {len(changes) - MAX_CHANGE_LINES} more")
    source = request.source
    first = ""
    if source is not None:
        earlier = read_marker(previous_body)
        first = earlier[1] if earlier and earlier[0] == request.group and earlier[1] else source.sha
        url = source.range_url(first, source.sha) if source.range_url else None
        span = f"{first[:12]}..{source.sha[:12]}" if first != source.sha else source.sha[:12]
        shown = f"[{span}]({url})" if url else f"`{span}`"
        lines += ["", f"Source: {source.repo} {shown}"]
    lines += ["", marker(request.group, first)]
    return "\n".join(lines)


def commit_message(request: BumpRequest, changes: Sequence[str]) -> str:
    listed = "\n".join(f"- {_cut(c)}" for c in changes[:MAX_CHANGE_LINES])
    return f"{request.title}\n\n{listed}\n"


def overwrite_note(shas: Sequence[str], branch: str) -> str:
    """The comment when `overwrite` replaced others' commits: they stay reachable by sha."""
    listed = ", ".join(s[:12] for s in shas)
    return (
        f"foredeck force-pushed a new bump to `{branch}`, replacing commits not made by "
        f"foredeck: {listed}. They are not lost: `git fetch origin <sha>` restores them."
    )


def leave_note(shas: Sequence[str], changes: Sequence[str]) -> str:
    """The comment when `leave` kept a branch someone else edited."""
    listed = "\n".join(f"- `{_cut(c)}`" for c in changes[:MAX_CHANGE_LINES])
    return (
        f"foredeck left this branch alone: it has commits not made by foredeck "
        f"({', '.join(s[:12] for s in shas)}), and the bump policy is `leave`. "
        f"The new bump would be:\n{listed}"
    )


def moot_note(shas: Sequence[str]) -> str:
    """The comment when the bump is moot but `leave` keeps a branch someone else edited."""
    return (
        "The manifests are already current, but this branch has commits not made by foredeck "
        f"({', '.join(s[:12] for s in shas)}) and the bump policy is `leave`: left open."
    )


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."
