"""The integers and text the database can hold, as types for route parameters and request bodies.

Python's int is unbounded; the database's are not. A job id or cursor beyond 64 bits raised
`OverflowError` in the driver, and a pull request number beyond 32 bits raises on PostgreSQL
(`jobs.pull_number` and `scm_comments.number` are INTEGER): 500s from a URL anyone can type.
Declared with these types, such values fail validation (422 in the API, 400 on the dashboard).
PostgreSQL's text cannot hold a NUL either (the driver refuses the query: a 503 where SQLite
answers): text filters take the `NO_NUL` pattern.
Depends on pydantic and `foredeck.types` (where the limits are, for `Pull` too) only, so that
`api/`, `dashboard/` and `scm/` all import it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from foredeck.types import MAX_BIGINT, MAX_INT

JobId = Annotated[int, Field(ge=1, le=MAX_BIGINT)]
Offset = Annotated[int, Field(ge=0, le=MAX_BIGINT)]
"""A keyset cursor (`after`), a count or a byte offset."""
PullNumber = Annotated[int, Field(ge=1, le=MAX_INT)]
NO_NUL = r"^[^\x00]*$"
"""The pattern of text a query compares with a column: anything but NUL."""

__all__ = ["MAX_BIGINT", "MAX_INT", "NO_NUL", "JobId", "Offset", "PullNumber"]
