"""The value types every layer shares: where input came from, its errors, what a job checks out.

They sit at the bottom so that nothing low imports upward: the YAML reader, the pipeline IR, the
job config, the database and the SCM all speak of a `Source` and a `PipelineError`, and the job
core, the controller, the executors and the API all speak of `Refs`. This package imports nothing
else of foredeck: it is the bottom layer (the database's integer limits are here, for `Pull` and for
`foredeck.bounds`).

`Refs`/`Pull` follow Prow's `prowapi.Refs` in field names and JSON shape, so that `prowjob.json`,
`clone-records.json` and the `JOB_SPEC` env var stay readable by Prow tooling; empty values are
omitted by `to_prow_json()`, as Go's `omitempty` does. They are pydantic models, defined in
`foredeck.types.refs` and imported from there on first use, so that what needs only a `Source` or
a `PipelineError` (the YAML reader, the pipeline loader, `foredeck run`) does not import pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

MAX_BIGINT = 2**63 - 1
"""SQLite's integers and PostgreSQL's BIGINT (ids)."""
MAX_INT = 2**31 - 1
"""PostgreSQL's INTEGER (pull request numbers); `foredeck.bounds` types route parameters with it."""

MergeMethod = Literal["merge", "squash", "rebase"]
"""How a pull request lands on its base: GitHub's three (the merge pool's `merge_method`)."""
MERGE_METHODS: tuple[MergeMethod, ...] = get_args(MergeMethod)


@dataclass(frozen=True)
class Source:
    """Where a node was declared: shown as `file:line` in every error."""

    file: str
    line: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


UNKNOWN = Source("<unknown>", 0)

if TYPE_CHECKING:
    from foredeck.types.refs import Pull as Pull
    from foredeck.types.refs import Refs as Refs
    from foredeck.types.refs import path_for_refs as path_for_refs
else:
    _REFS = frozenset({"Pull", "Refs", "path_for_refs"})

    def __getattr__(name: str) -> object:
        if name in _REFS:
            from foredeck.types import refs

            return getattr(refs, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class PipelineError(Exception):
    """Invalid pipeline input. `str()` is the one-line message the CLI prints."""

    def __init__(self, source: Source, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


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
