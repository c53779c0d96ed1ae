"""A caller (`Principal`) and what the roles file lets it do (`Access`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true

from foredeck.config.roles import Role, RolesFile, at_least, higher, lower
from foredeck.db.models import Job

Via = Literal["anonymous", "bootstrap", "token", "session", "system", "oidc", "github"]
"""How a principal was authenticated: nobody, the bootstrap `api.token`, a personal token in
the `Authorization` header, the dashboard's session cookie; `system` for the server itself;
`oidc` and `github` for the login itself (its audit entry), after which the session cookie
speaks for the user."""


@dataclass(frozen=True)
class Principal:
    name: str
    via: Via
    teams: frozenset[str] = field(default_factory=frozenset)
    """GitHub teams as `org/team`."""
    groups: frozenset[str] = field(default_factory=frozenset)
    """OIDC groups."""
    cap: Role | None = None
    """A personal token's role: the principal never acts above it."""
    token_id: int | None = None
    expires_at: datetime | None = None
    """When the token that authenticated it stops working: a token it makes may not outlive it."""
    from_cookie: bool = False
    """Authenticated by a cookie the browser sends by itself: writes need the CSRF token."""

    @property
    def authenticated(self) -> bool:
        return self.via != "anonymous"


ANONYMOUS = Principal("anonymous", "anonymous")
SYSTEM = Principal("system", "system")


@dataclass(frozen=True)
class Access:
    """The roles file's answers for one principal. `anonymous_writes` (`api.anonymous_writes`)
    makes everyone an editor everywhere, as that setting always did."""

    roles: RolesFile
    anonymous_writes: bool = False

    def role(self, who: Principal, org: str | None, repo: str | None) -> Role | None:
        """`who`'s role on `org/repo` (`org` None: on what belongs to no repository)."""
        if who.via in ("bootstrap", "system"):
            return "admin"
        granted: Role | None = None
        if who.authenticated:
            granted = self.roles.granted(who.name, who.teams, who.groups, org, repo)
            if who.cap is not None:
                granted = lower(granted, who.cap)
        if self.anonymous_writes:
            granted = higher(granted, "editor")
        if self.roles.anonymous_reads(org, repo):
            granted = higher(granted, "viewer")
        return granted

    def may(self, who: Principal, needed: Role, org: str | None, repo: str | None) -> bool:
        return at_least(self.role(who, org, repo), needed)

    def highest(self, who: Principal) -> Role | None:
        """`who`'s highest role on any repository (for what no repository owns: leases)."""
        if who.via in ("bootstrap", "system"):
            return "admin"
        granted: Role | None = None
        if who.authenticated:
            granted = self.roles.granted(who.name, who.teams, who.groups, None, None, anywhere=True)
            if who.cap is not None:
                granted = lower(granted, who.cap)
        if self.anonymous_writes:
            granted = higher(granted, "editor")
        if self.roles.anonymous_reads(None, None) or "read" in self.roles.anonymous.values():
            granted = higher(granted, "viewer")
        return granted

    def is_admin(self, who: Principal) -> bool:
        """Admin of everything (a grant on `*`): config reload, every token, the audit log."""
        return self.role(who, None, None) == "admin"

    def visible(self, who: Principal) -> ColumnElement[bool] | None:
        """A condition on `Job` that keeps the jobs `who` may see; None when all are."""
        if not self.roles.anonymous:
            return None  # everything is public
        if who.via in ("bootstrap", "system") or self._granted_everywhere(who):
            return None
        return or_(self._anonymous_clause(), self._granted_clause(who))

    def _granted_everywhere(self, who: Principal) -> bool:
        if not who.authenticated:
            return False
        return self.roles.granted(who.name, who.teams, who.groups, None, None) is not None

    def _anonymous_clause(self) -> ColumnElement[bool]:
        org, pair = _org(), _pair()
        repo_read, repo_any, org_read, org_any = [], [], [], []
        for key, value in self.roles.anonymous.items():
            key = key.lower()
            if key == "*":
                continue
            if "/" in key:
                repo_any.append(key)
                if value == "read":
                    repo_read.append(key)
            else:
                org_any.append(key)
                if value == "read":
                    org_read.append(key)
        default = true() if self.roles.anonymous_reads(None, None) else false()
        by_org = or_(org.in_(org_read), and_(not_(org.in_(org_any)), default))
        return or_(pair.in_(repo_read), and_(not_(pair.in_(repo_any)), by_org))

    def _granted_clause(self, who: Principal) -> ColumnElement[bool]:
        if not who.authenticated:
            return false()
        orgs: list[str] = []
        pairs: list[str] = []
        for grant in self.roles.grants:
            if not grant.names(who.name, who.teams, who.groups):
                continue
            for scope in grant.repos:
                owner, _, name = scope.lower().partition("/")
                if name == "*":
                    orgs.append(owner)
                else:
                    pairs.append(f"{owner}/{name}")
        return or_(_org().in_(orgs), _pair().in_(pairs))


def _org() -> ColumnElement[str]:
    return func.lower(func.coalesce(Job.org, ""))


def _pair() -> ColumnElement[str]:
    return func.lower(func.coalesce(Job.org, "") + "/" + func.coalesce(Job.repo, ""))
