"""How the validation checks report: collect every error inside `validate()`, raise outside.

The checks live in several modules (`validate_*.py`) and must all behave the same way: a check
raises `PipelineError`, `each()` around one item of a loop records it and goes on with the next
while `validate()` collects, and lets it through when a check is called on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from foredeck.types import PipelineError, Source

_FOUND: ContextVar[list[PipelineError] | None] = ContextVar("validate_found", default=None)
"""The errors `validate()` has collected so far; None outside it (errors are then raised)."""


@contextmanager
def collecting() -> Iterator[list[PipelineError]]:
    """Within it, `report()` and `each()` collect errors into the list it yields."""
    found: list[PipelineError] = []
    token = _FOUND.set(found)
    try:
        yield found
    finally:
        _FOUND.reset(token)


def report(error: PipelineError) -> None:
    found = _FOUND.get()
    if found is None:
        raise error
    found.append(error)


@contextmanager
def each() -> Iterator[None]:
    """One independent check: its error is recorded and the caller goes on with the next."""
    try:
        yield
    except PipelineError as error:
        report(error)


def duplicates(items: Iterable[tuple[str, Source]], what: str, owner: str = "") -> None:
    seen: set[str] = set()
    prefix = f"{owner}: " if owner else ""
    for name, source in items:
        if name in seen:
            report(PipelineError(source, f"{prefix}duplicate {what} {name!r}"))
        seen.add(name)
