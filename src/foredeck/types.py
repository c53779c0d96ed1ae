"""The value types every layer shares: where input came from, its errors, what a job checks out.

They sit at the bottom so that nothing low imports upward: the YAML reader, the pipeline IR, the
job config, the database and the SCM all speak of a `Source` and a `PipelineError`, and the job
core, the controller, the executors and the API all speak of `Refs`. This module imports nothing
of foredeck: it is the bottom layer (the database's integer limits are here, for `Pull` and for
`foredeck.bounds`).

`Refs`/`Pull` follow Prow's `prowapi.Refs` in field names and JSON shape, so that `prowjob.json`,
`clone-records.json` and the `JOB_SPEC` env var stay readable by Prow tooling; empty values are
omitted by `to_prow_json()`, as Go's `omitempty` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

MAX_BIGINT = 2**63 - 1
"""SQLite's integers and PostgreSQL's BIGINT (ids)."""
MAX_INT = 2**31 - 1
"""PostgreSQL's INTEGER (pull request numbers); `foredeck.bounds` types route parameters with it."""


@dataclass(frozen=True)
class Source:
    """Where a node was declared: shown as `file:line` in every error."""

    file: str
    line: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


UNKNOWN = Source("<unknown>", 0)


class PipelineError(Exception):
    """Invalid pipeline input. `str()` is the one-line message the CLI prints."""

    def __init__(self, source: Source, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


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


def public_uri(uri: str) -> str:
    """The URI without credentials: what a working tree's `origin` remote or a manifest that
    anyone who can list pods reads may keep."""
    if "://" not in uri:
        return uri
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
