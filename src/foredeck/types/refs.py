"""Prow's `Refs` and `Pull` (see `foredeck.types`): what a job checks out."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from foredeck.types import MAX_INT


class Pull(BaseModel):
    """One pull request to merge on top of the base."""

    model_config = ConfigDict(extra="ignore")

    number: int = Field(ge=0, le=MAX_INT)
    """Bounded by the database's `pull_number` column; Prow's type allows 0."""
    author: str = ""
    sha: str = ""
    title: str = ""
    ref: str = ""
    """A fetchable ref for the change, e.g. `pull/123/head`; default `refs/pull/<number>/head`."""
    link: str = ""
    commit_link: str = ""
    author_link: str = ""


class Refs(BaseModel):
    """A base ref (and sha) of one repository, plus the pulls to merge in order."""

    model_config = ConfigDict(extra="ignore")

    org: str
    repo: str
    repo_link: str = ""
    base_ref: str = ""
    base_sha: str = ""
    base_link: str = ""
    pulls: list[Pull] = Field(default_factory=list)
    path_alias: str = ""
    workdir: bool = False
    clone_uri: str = ""
    skip_submodules: bool = False
    clone_depth: int = Field(default=0, ge=0)
    skip_fetch_head: bool = False

    def to_prow_json(self) -> dict[str, Any]:
        """The JSON object Prow writes (empty fields omitted)."""
        return self.model_dump(mode="json", exclude_defaults=True)


def path_for_refs(refs: Refs) -> PurePosixPath:
    """Where refs go under a base directory: `path_alias`, else `org/repo`."""
    raw = refs.path_alias or f"{refs.org}/{refs.repo}"
    path = PurePosixPath(raw)
    if path.is_absolute() or any(p in {"..", "."} for p in path.parts) or "\\" in raw:
        raise ValueError(f"invalid path_alias {raw!r}: must be a relative path without '..'")
    return path
