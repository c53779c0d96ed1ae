"""A postsubmit's `cd:` targets: where its pushed images are bumped (docs/cd.md).

    postsubmits:
      acme/app:
        - name: build-app
          cd:
            - repo: acme/manifests        # the manifests repository, ORG/REPO
              paths: [deploy/]            # directories or globs (default: the whole tree)
              group: app                  # one pull request per group: foredeck/bump/app
              pin: digest                 # digest | tag | both
              labels: [cd]                # put on the pull request
              policy: overwrite           # or leave: a branch a human edited is left alone
              base: main                  # the branch the pull request targets

Validated when the configuration loads, each problem at its file and line like any job field.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from foredeck.cd.pulls import check_group
from foredeck.cd.refs import Pin

_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}/[A-Za-z0-9._-]{1,100}")
_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
MAX_TARGETS = 20
MAX_PATHS = 100
MAX_LABELS = 20


class CdTarget(BaseModel):
    """One manifests repository a postsubmit's images are bumped in."""

    model_config = ConfigDict(extra="forbid")

    repo: str
    paths: list[str] = Field(default_factory=list, max_length=MAX_PATHS)
    group: str
    pin: Pin = "digest"
    labels: list[str] = Field(default_factory=list, max_length=MAX_LABELS)
    policy: Literal["overwrite", "leave"] = "overwrite"
    base: str = "main"

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if not _REPO.fullmatch(value) or value.endswith((".", "/.git")):
            raise ValueError(f"repo must be ORG/REPO, not {value!r}")
        return value

    @field_validator("group")
    @classmethod
    def _group(cls, value: str) -> str:
        return check_group(value)

    @field_validator("base")
    @classmethod
    def _base(cls, value: str) -> str:
        bad = ".." in value or "//" in value or value.endswith(("/", ".", ".lock"))
        if not _BRANCH.fullmatch(value) or bad:
            raise ValueError(f"base must be a branch name, not {value!r}")
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for raw in value:
            path = PurePosixPath(raw)
            if not raw.strip() or path.is_absolute() or ".." in path.parts:
                raise ValueError(f"paths are relative, without '..': {raw!r}")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        for label in value:
            if not label.strip() or len(label) > 100:
                raise ValueError(f"invalid label {label!r}")
        return value


def check_targets(targets: list[CdTarget]) -> list[CdTarget]:
    """At most `MAX_TARGETS`, and one pull request branch per repository and group."""
    if len(targets) > MAX_TARGETS:
        raise ValueError(f"at most {MAX_TARGETS} cd targets")
    seen: set[tuple[str, str]] = set()
    for target in targets:
        key = (target.repo.lower(), target.group)
        if key in seen:
            raise ValueError(f"group {target.group!r} is given twice for {target.repo}")
        seen.add(key)
    return targets
