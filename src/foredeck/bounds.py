"""The integers and text the database can hold, as types for route parameters and request bodies.

Python's int is unbounded; the database's are not. A job id or cursor beyond 64 bits raised
`OverflowError` in the driver, and a pull request number beyond 32 bits raises on PostgreSQL
(`jobs.pull_number` and `scm_comments.number` are INTEGER): 500s from a URL anyone can type.
Declared with these types, such values fail validation (422 in the API, 400 on the dashboard).
PostgreSQL's text cannot hold a NUL either (the driver refuses the query: a 503 where SQLite
answers): text filters take the `NO_NUL` pattern, and request bodies are `TextBody`s.
Depends on pydantic and `foredeck.types` (where the limits are, for `Pull` too) only, so that
`api/`, `dashboard/` and `scm/` all import it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from foredeck.types import MAX_BIGINT, MAX_INT

JobId = Annotated[int, Field(ge=1, le=MAX_BIGINT)]
Offset = Annotated[int, Field(ge=0, le=MAX_BIGINT)]
"""A keyset cursor (`after`), a count or a byte offset."""
PullNumber = Annotated[int, Field(ge=1, le=MAX_INT)]
NO_NUL = r"^[^\x00]*$"
"""The pattern of text a query compares with a column: anything but NUL."""


def holds_nul(value: Any) -> bool:
    """Whether a string anywhere in `value` (JSON: dicts, lists, keys too) holds a NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(holds_nul(item) for item in value)
    return False


class TextBody(BaseModel):
    """A request body none of whose strings, nested ones included, holds a NUL: a 422 naming
    the rule, where the database would refuse the text (a 503 on PostgreSQL)."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if holds_nul(data):
            raise ValueError("text must not contain a NUL character")
        return data


__all__ = [
    "MAX_BIGINT",
    "MAX_INT",
    "NO_NUL",
    "JobId",
    "Offset",
    "PullNumber",
    "TextBody",
    "holds_nul",
]
