"""The roles file: who is admin, editor or viewer where, and which orgs anonymous callers may
read (docs/access.md).

It lives in the config repository beside the job config and is reloaded like it
(`RolesAgent`): a broken edit keeps the roles in use and says why, with `file:line`. A grant
names users, GitHub teams (`org/team`) and OIDC groups, and the repositories it covers: `*`
(everything, including what belongs to no repository), `org/*` or `org/repo`. Roles are
ordered: an admin may do what an editor may, an editor what a viewer may.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from foredeck.config.clusters import Cluster, Subjects, unique_clusters
from foredeck.config.pipelines import locate
from foredeck.config.result import Diagnostic
from foredeck.types import PipelineError, Source
from foredeck.validation import location
from foredeck.yamlsrc import SourceMap, load_file

log = logging.getLogger(__name__)

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")
RANK: dict[Role, int] = {role: rank for rank, role in enumerate(ROLES, 1)}
Anonymous = Literal["read", "none"]

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
SCOPE_PATTERN = re.compile(rf"^(\*|{_NAME}/\*|{_NAME}/{_NAME})$")
ANON_PATTERN = re.compile(rf"^(\*|{_NAME}|{_NAME}/{_NAME})$")
TEAM_PATTERN = re.compile(rf"^{_NAME}/{_NAME}$")
MAX_ENTRIES = 10_000


def at_least(role: Role | None, needed: Role) -> bool:
    return role is not None and RANK[role] >= RANK[needed]


def lower(a: Role | None, b: Role | None) -> Role | None:
    """The lesser of two roles (None is below every role)."""
    if a is None or b is None:
        return None
    return a if RANK[a] <= RANK[b] else b


def higher(a: Role | None, b: Role | None) -> Role | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if RANK[a] >= RANK[b] else b


class Grant(BaseModel):
    """`role` on `repos` for every listed user, team and group."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    repos: list[str] = Field(min_length=1, max_length=MAX_ENTRIES)
    users: list[str] = Field(default_factory=list, max_length=MAX_ENTRIES)
    teams: list[str] = Field(default_factory=list, max_length=MAX_ENTRIES)
    groups: list[str] = Field(default_factory=list, max_length=MAX_ENTRIES)

    @field_validator("repos")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        for scope in value:
            if not SCOPE_PATTERN.match(scope):
                raise ValueError(f"{scope!r} is not `*`, `org/*` or `org/repo`")
        return value

    @field_validator("teams")
    @classmethod
    def _teams(cls, value: list[str]) -> list[str]:
        for team in value:
            if not TEAM_PATTERN.match(team):
                raise ValueError(f"{team!r} is not a GitHub team as `org/team`")
        return value

    _user_set: frozenset[str] = PrivateAttr(default=frozenset())
    _team_set: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="after")
    def _someone(self) -> Grant:
        if not (self.users or self.teams or self.groups):
            raise ValueError("a grant names at least one of users, teams or groups")
        # Logins and team slugs compare as GitHub does, whatever their case; sets made once,
        # not per request.
        self._user_set = frozenset(u.lower() for u in self.users)
        self._team_set = frozenset(t.lower() for t in self.teams)
        return self

    def covers(self, org: str | None, repo: str | None) -> bool:
        """Whether the grant applies to `org/repo` (`org` None: what belongs to no repo)."""
        for scope in self.repos:
            if scope == "*":
                return True
            if org is None:
                continue
            owner, _, name = scope.lower().partition("/")
            if owner == org.lower() and name in ("*", (repo or "").lower()):
                return True
        return False

    def names(self, user: str, teams: Iterable[str], groups: Iterable[str]) -> bool:
        return (
            user.lower() in self._user_set
            or any(t.lower() in self._team_set for t in teams)
            or any(g in self.groups for g in groups)
        )


class RolesFile(BaseModel):
    """The whole file. Without one, every repository is public and only the bootstrap token
    (`api.token`) may change anything."""

    model_config = ConfigDict(extra="forbid")

    anonymous: dict[str, Anonymous] = Field(default_factory=dict, max_length=MAX_ENTRIES)
    """`*`, an org or `org/repo` -> `read` or `none`; the most specific entry wins, `read`
    without any (public by default)."""
    grants: list[Grant] = Field(default_factory=list, max_length=MAX_ENTRIES)
    subjects: Subjects = Field(default_factory=Subjects)
    """Who the grants' users, teams and groups are to the clusters (`foredeck access`)."""
    clusters: list[Cluster] = Field(default_factory=list, max_length=100)

    @field_validator("clusters")
    @classmethod
    def _clusters(cls, value: list[Cluster]) -> list[Cluster]:
        return unique_clusters(value)

    @field_validator("anonymous")
    @classmethod
    def _anonymous_keys(cls, value: dict[str, Anonymous]) -> dict[str, Anonymous]:
        seen: dict[str, str] = {}
        for key in value:
            if not ANON_PATTERN.match(key):
                raise ValueError(f"key {key!r} is not `*`, an org or `org/repo`")
            # Names compare in any case: two such keys would leave the job lists (`Access`)
            # and a job's own page reading different entries for one org or repository.
            if key.lower() in seen:
                raise ValueError(f"keys {seen[key.lower()]!r} and {key!r} differ only in case")
            seen[key.lower()] = key
        return value

    def anonymous_reads(self, org: str | None, repo: str | None) -> bool:
        table = {k.lower(): v for k, v in self.anonymous.items()}
        keys = [f"{org}/{repo}".lower(), org.lower()] if org else []
        for key in [*keys, "*"]:
            if key in table:
                return table[key] == "read"
        return True

    def granted(
        self,
        user: str,
        teams: Iterable[str],
        groups: Iterable[str],
        org: str | None,
        repo: str | None,
        *,
        anywhere: bool = False,
    ) -> Role | None:
        """The highest role granted to this person on `org/repo` (or on any repository)."""
        teams, groups = list(teams), list(groups)
        best: Role | None = None
        for grant in self.grants:
            if (anywhere or grant.covers(org, repo)) and grant.names(user, teams, groups):
                best = higher(best, grant.role)
        return best


class RolesError(ValueError):
    """The roles file cannot be used; the message lists each problem as `file:line: ...`."""


def parse_roles(data: Any, where: Source) -> RolesFile:
    """Validate one loaded document; raises `RolesError` naming every problem's line."""
    if data is None:
        return RolesFile()
    if not isinstance(data, dict):
        raise RolesError(f"{where}: the roles file must be a mapping")
    try:
        return RolesFile.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            at = locate(data, loc, where) if isinstance(data, SourceMap) else where
            lines.append(str(Diagnostic(at, f"{location(loc) or 'roles'}: {error['msg']}")))
        raise RolesError("\n".join(sorted(set(lines), key=_line_order))) from None


def _line_order(text: str) -> tuple[int, str]:
    head = text.split(": ", 1)[0]
    number = head.rsplit(":", 1)[-1]
    return (int(number) if number.isdigit() else 0, text)


def load_roles(path: Path) -> RolesFile:
    """The roles of the file at `path` (one YAML document); `RolesError` when it is unusable."""
    try:
        docs = load_file(path)
    except PipelineError as exc:
        raise RolesError(f"{exc.source}: {exc.message}") from None
    if len(docs) > 1:
        raise RolesError(f"{docs[1].source}: the roles file holds one YAML document")
    if not docs:
        return RolesFile()
    return parse_roles(docs[0].data, docs[0].source)


class RolesAgent:
    """The roles of `path`, reloaded when the file changes (as `ConfigAgent` does the jobs).

    No path: `RolesFile()` (public reads, no grants). A broken file at start raises
    `RolesError`; a broken edit later keeps the roles in use and sets `problem`.
    `on_reload(path)` is called after a changed file was taken (the audit log records it)."""

    def __init__(
        self,
        path: str | None,
        *,
        reload_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_reload: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.reload_interval = reload_interval
        self.on_reload = on_reload
        self.problem: str | None = None
        self._clock = clock
        self._stamp: tuple[int, int] | None = None
        self._roles = RolesFile()
        self._checked_at = clock()
        if path is not None:
            self._stamp = self._current_stamp(path)
            self._roles = load_roles(Path(path))

    def get(self) -> RolesFile:
        if self.path is not None and self._clock() - self._checked_at >= self.reload_interval:
            self.reload()
        return self._roles

    def reload(self) -> bool:
        """Look at the file now; True when a changed file was taken."""
        if self.path is None:
            return False
        self._checked_at = self._clock()
        try:
            stamp = self._current_stamp(self.path)
        except RolesError as exc:
            return self._refuse(str(exc))
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            roles = load_roles(Path(self.path))
        except RolesError as exc:
            return self._refuse(str(exc))
        self._roles, self.problem = roles, None
        log.info("roles file %s reloaded: %d grants", self.path, len(roles.grants))
        if self.on_reload is not None:
            try:
                self.on_reload(self.path)
            except Exception:
                log.exception("roles file %s: the reload callback failed", self.path)
        return True

    def _refuse(self, why: str) -> bool:
        self.problem = why
        log.error("roles file %s: keeping the roles in use:\n%s", self.path, why)
        return False

    @staticmethod
    def _current_stamp(path: str) -> tuple[int, int]:
        try:
            st = Path(path).stat()
        except OSError as exc:
            raise RolesError(f"{path}:0: cannot read: {exc.strerror}") from None
        return (st.st_mtime_ns, st.st_size)
