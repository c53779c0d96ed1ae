"""The one error type of the expression languages, with the offset a message points at.

Load-time checks turn it into a `PipelineError` naming the file and line of the field; run-time
evaluation turns it into the task's failure reason. `pos` is an offset into the expression text.
"""

from __future__ import annotations


class ExprError(ValueError):
    def __init__(self, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos

    def describe(self, text: str) -> str:
        """The message with the column and a short excerpt of `text` where it happened."""
        if self.pos is None:
            return self.message
        near = text[self.pos : self.pos + 20]
        return f"{self.message} (column {self.pos + 1}, near {near!r})"
