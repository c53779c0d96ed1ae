"""The `tide:` section of the central config: the merge pool, in Prow's shape (docs/tide.md).

    tide:
      sync_period: 30s
      merge_method: {acme/docs: squash}          # org or org/repo: merge | squash | rebase
      batch_size_limit: {"*": 5, acme/big: -1}    # 0: no limit, negative: no batches
      blocker_label: tide/merge-blocker
      queries:
        - repos: [acme/widget]
          orgs: [other]
          excludedRepos: [other/legacy]
          labels: [lgtm, approved]
          missingLabels: [do-not-merge/hold]
          milestone: v1.0
          reviewApprovedRequired: false
          includedBranches: [main]
      context_options:
        required-contexts: [ci/github-actions]    # contexts another CI posts
        optional-contexts: [coverage]
        skip-unknown-contexts: false              # then every other context must pass too
        orgs: {acme: {repos: {widget: {required-contexts: [lint]}}}}

Validated when the config loads, each problem at its `file:line` like a job field.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from foredeck.config.durations import parse_go_duration
from foredeck.types import MergeMethod

_ORG = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_REPO_RE = re.compile(rf"{_ORG}/[A-Za-z0-9._-]{{1,100}}")
_ORG_RE = re.compile(_ORG)
MAX_QUERIES = 200
MAX_NAMES = 500
DEFAULT_SYNC = 60.0


def _repo(value: str) -> str:
    if not _REPO_RE.fullmatch(value):
        raise ValueError(f"must be ORG/REPO, not {value!r}")
    return value


def _org_or_repo(value: str) -> str:
    if value != "*" and not (_ORG_RE.fullmatch(value) or _REPO_RE.fullmatch(value)):
        raise ValueError(f"keys are ORG or ORG/REPO, not {value!r}")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class TideQuery(_Model):
    """Which open pull requests are in a pool: all of these conditions hold."""

    repos: list[str] = Field(default_factory=list, max_length=MAX_NAMES)
    orgs: list[str] = Field(default_factory=list, max_length=MAX_NAMES)
    excluded_repos: list[str] = Field(default_factory=list, alias="excludedRepos")
    labels: list[str] = Field(default_factory=list, max_length=50)
    missing_labels: list[str] = Field(default_factory=list, alias="missingLabels", max_length=50)
    milestone: str = ""
    review_approved_required: bool = Field(default=False, alias="reviewApprovedRequired")
    included_branches: list[str] = Field(default_factory=list, alias="includedBranches")
    excluded_branches: list[str] = Field(default_factory=list, alias="excludedBranches")
    author: str = ""

    @field_validator("repos", "excluded_repos")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        return [_repo(v) for v in value]

    @field_validator("orgs")
    @classmethod
    def _orgs(cls, value: list[str]) -> list[str]:
        for org in value:
            if not _ORG_RE.fullmatch(org):
                raise ValueError(f"must be an ORG, not {org!r}")
        return value

    @model_validator(mode="after")
    def _somewhere(self) -> TideQuery:
        if not self.repos and not self.orgs:
            raise ValueError("a query needs repos or orgs")
        if self.included_branches and self.excluded_branches:
            raise ValueError("includedBranches and excludedBranches exclude each other")
        return self

    def covers(self, org: str, repo: str) -> bool:
        full = f"{org}/{repo}"
        return (full in self.repos or org in self.orgs) and full not in self.excluded_repos

    def wants_branch(self, branch: str) -> bool:
        if self.included_branches:
            return branch in self.included_branches
        return branch not in self.excluded_branches


class Contexts(_Model):
    """Context options of Prow: what besides the presubmits must pass."""

    required: list[str] = Field(default_factory=list, alias="required-contexts")
    if_present: list[str] = Field(default_factory=list, alias="required-if-present-contexts")
    optional: list[str] = Field(default_factory=list, alias="optional-contexts")
    skip_unknown: bool | None = Field(default=None, alias="skip-unknown-contexts")
    from_branch_protection: bool = Field(default=False, alias="from-branch-protection")
    """Read but not used: foredeck does not read GitHub's branch protection."""


class RepoContexts(Contexts):
    branches: dict[str, Contexts] = Field(default_factory=dict)


class OrgContexts(Contexts):
    repos: dict[str, RepoContexts] = Field(default_factory=dict)


class ContextOptions(Contexts):
    orgs: dict[str, OrgContexts] = Field(default_factory=dict)

    def for_branch(self, org: str, repo: str, branch: str) -> Contexts:
        """The options for pull requests of `org/repo` into `branch`: the lists of every level
        add up; the most specific `skip-unknown-contexts` wins."""
        levels: list[Contexts] = [self]
        org_level = self.orgs.get(org)
        if org_level is not None:
            levels.append(org_level)
            repo_level = org_level.repos.get(repo)
            if repo_level is not None:
                levels.append(repo_level)
                if branch in repo_level.branches:
                    levels.append(repo_level.branches[branch])
        skip = False
        for level in levels:
            skip = level.skip_unknown if level.skip_unknown is not None else skip
        return Contexts.model_construct(
            required=[c for level in levels for c in level.required],
            if_present=[c for level in levels for c in level.if_present],
            optional=[c for level in levels for c in level.optional],
            skip_unknown=skip,
        )


class TideConfig(_Model):
    """Prow's `tide:` section (the fields foredeck reads; see the module's docstring)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    sync_period: str = "1m"
    merge_method: dict[str, MergeMethod] = Field(default_factory=dict)
    batch_size_limit: dict[str, int] = Field(default_factory=dict)
    blocker_label: str = Field(default="", max_length=100)
    squash_label: str = Field(default="", max_length=100)
    rebase_label: str = Field(default="", max_length=100)
    merge_label: str = Field(default="", max_length=100)
    """A pull request with one of these labels merges that way, whatever `merge_method` says."""
    target_url: str = ""
    queries: list[TideQuery] = Field(default_factory=list, max_length=MAX_QUERIES)
    context_options: ContextOptions = Field(default_factory=ContextOptions)

    @field_validator("sync_period")
    @classmethod
    def _period(cls, value: str) -> str:
        if parse_go_duration(value) <= 0:
            raise ValueError("sync_period must be positive")
        return value

    @field_validator("merge_method", "batch_size_limit")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            _org_or_repo(key)
        return value

    @property
    def sync_seconds(self) -> float:
        return parse_go_duration(self.sync_period)

    def method_for(self, org: str, repo: str, labels: Collection[str] = ()) -> MergeMethod:
        """The pull request's label's method, else the repository's, else its org's."""
        chosen: list[tuple[str, MergeMethod]] = [
            (self.squash_label, "squash"),
            (self.rebase_label, "rebase"),
            (self.merge_label, "merge"),
        ]
        for label, method in chosen:
            if label and label in labels:
                return method
        return self.merge_method.get(f"{org}/{repo}") or self.merge_method.get(org) or "merge"

    def batch_limit(self, org: str, repo: str) -> int:
        """How many pull requests a batch may hold: 0 any number, negative none (serial)."""
        for key in (f"{org}/{repo}", org, "*"):
            if key in self.batch_size_limit:
                return self.batch_size_limit[key]
        return 0

    def unknown_fields(self) -> list[str]:
        return list(self.model_extra or {})
