"""Step outputs a task keeps as results: a step's standard output and its exit code.

Argo's `outputs.result` is the main container's stdout with one trailing newline trimmed, of
which only the last 256 KiB are kept (the executor logs a warning and saves the tail); its
`exitCode` is that container's exit code. Here the stdout of a step whose result someone reads
is teed into a bounded tail as it streams to the build log: a step printing gigabytes costs
the log what it always did and this module at most twice the cap, never the whole output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from foredeck.pipeline.model import ParamValue, ResultSpec, Step

STDOUT_LIMIT = 256 * 1024
"""Argo's cap on `outputs.result` (bytes, after trimming one trailing newline)."""


class StdoutTail:
    """The last `limit` bytes of a stream, plus one for the newline Argo trims."""

    def __init__(self, limit: int = STDOUT_LIMIT) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        self.buffer += data
        if len(self.buffer) > 2 * (self.limit + 1):  # trim in batches: amortised O(1)
            del self.buffer[: len(self.buffer) - self.limit - 1]

    @property
    def cut(self) -> bool:
        """Whether the value lost its head to the cap."""
        return self.total - (1 if self.buffer.endswith(b"\n") else 0) > self.limit

    def text(self) -> str:
        data = bytes(self.buffer)
        if data.endswith(b"\n"):
            data = data[:-1]
        return data[-self.limit :].decode("utf-8", errors="replace")


@dataclass
class StepCapture:
    """What one attempt keeps of its steps: the stdout of `stdout_steps`, every exit code."""

    stdout_steps: frozenset[str] = frozenset()
    tails: dict[str, StdoutTail] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)
    last_exit: int | None = None

    def stdout_sink(self, step: str) -> Callable[[bytes], None] | None:
        if step not in self.stdout_steps:
            return None
        tail = self.tails[step] = StdoutTail()
        return tail.feed

    def exited(self, step: str, code: int) -> None:
        self.exit_codes[step] = code
        self.last_exit = code


def wanted_stdout(specs: list[ResultSpec], steps: list[Step], wanted: set[str]) -> frozenset[str]:
    """The steps whose stdout feeds a result in `wanted` (the results someone reads)."""
    names = set()
    for spec in specs:
        if spec.value_from == "stdout" and spec.name in wanted and steps:
            names.add(spec.step or steps[-1].name)
    return frozenset(names)


def captured_results(
    specs: list[ResultSpec], steps: list[Step], capture: StepCapture, wanted: set[str]
) -> dict[str, ParamValue]:
    """The stdout and exit-code results in `wanted` of an attempt, for the steps that ran."""
    values: dict[str, ParamValue] = {}
    for spec in specs:
        if spec.value_from == "file" or not steps or spec.name not in wanted:
            continue
        step = spec.step or steps[-1].name
        if spec.value_from == "stdout" and step in capture.tails:
            values[spec.name] = capture.tails[step].text()
        elif spec.value_from == "exit-code" and step in capture.exit_codes:
            values[spec.name] = str(capture.exit_codes[step])
    return values
