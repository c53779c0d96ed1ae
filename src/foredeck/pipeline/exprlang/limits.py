"""Bounds on what one evaluation may cost, so that a workflow cannot stall or bloat a run.

An expression is data from a workflow file and its values come from task outputs: evaluation
counts steps against a budget and a deadline, and refuses strings and lists past a size, instead
of trusting either. Integers wrap at 64 bits as in Go, so they cannot grow without bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

from foredeck.pipeline.exprlang.errors import ExprError

T = TypeVar("T")

MAX_TEXT = 16 * 1024
"""Longest expression text accepted (Argo's own fields are far shorter)."""
MAX_STRING = 1024 * 1024
"""Longest string an evaluation may build (Argo caps `outputs.result` at 256 KiB)."""
MAX_ITEMS = 100_000
"""Longest list or map an evaluation may build."""
MAX_STEPS = 200_000
MAX_SECONDS = 2.0
MAX_DEPTH = 64
"""How deeply expressions may nest (parser recursion)."""


@dataclass
class Budget:
    """What is left of one evaluation's steps and time."""

    steps: int = MAX_STEPS
    seconds: float = MAX_SECONDS

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def tick(self, count: int = 1) -> None:
        self.steps -= count
        if self.steps < 0:
            raise ExprError("expression exceeds its evaluation budget (too many steps)")
        if self.steps % 256 == 0 and time.monotonic() > self.deadline:
            raise ExprError(f"expression exceeds its time limit of {self.seconds:g}s")


def check_size(value: T) -> T:
    """`value` unchanged, or an error when a string or collection is past its bound."""
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise ExprError(f"string longer than {MAX_STRING} characters")
    if isinstance(value, list | dict) and len(value) > MAX_ITEMS:
        raise ExprError(f"list or map longer than {MAX_ITEMS} items")
    return value


def wrap_int(value: int) -> int:
    """Go's int64 arithmetic: wrap around instead of growing."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value
