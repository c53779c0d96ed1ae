"""Several problems of one input, reported together.

Validation goes on past the first problem so that one run of `foredeck run` or `config check`
names every mistake of a file, each with its `file:line`. `PipelineErrors` is a `PipelineError`
(whose `source` and `message` are the first problem's), so a caller that handles one error keeps
working; one that prints each uses `each_error`.
"""

from __future__ import annotations

from collections.abc import Sequence

from foredeck.types import PipelineError


class PipelineErrors(PipelineError):
    """Two or more problems, in the order found; `str()` gives one `file:line: message` a line."""

    def __init__(self, errors: Sequence[PipelineError]) -> None:
        if len(errors) < 2:
            raise ValueError("PipelineErrors holds two or more errors")
        super().__init__(errors[0].source, errors[0].message)
        self.errors = list(errors)
        self.args = (str(self),)

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


def each_error(exc: PipelineError) -> list[PipelineError]:
    """The problems `exc` stands for: itself, or each of a `PipelineErrors`."""
    return list(exc.errors) if isinstance(exc, PipelineErrors) else [exc]


def raise_all(errors: Sequence[PipelineError]) -> None:
    """Raise the one error, or a `PipelineErrors` of several; nothing when there are none."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise PipelineErrors(errors)
