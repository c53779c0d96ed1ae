"""What loading a job config produces: the jobs, plus every warning and error found on the way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from foredeck.config.jobconfig import JobConfig
from foredeck.types import Source


@dataclass(frozen=True)
class Diagnostic:
    """One message about the config. `str()` is `file:line: job NAME: message`."""

    source: Source
    message: str
    job: str | None = None
    kind: str = ""
    """For warnings, what sort (`unknown-field`, `value-from`, ...): summaries count by kind."""

    def __str__(self) -> str:
        who = f"job {self.job}: " if self.job else ""
        return f"{self.source}: {who}{self.message}"


@dataclass
class ConfigResult:
    """Valid jobs in `jobs`; a job with an error is left out of `jobs` and named in `errors`."""

    jobs: JobConfig = field(default_factory=lambda: JobConfig())
    warnings: list[Diagnostic] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def warning_summary(warnings: Sequence[Diagnostic]) -> list[str]:
    """One line per kind of warning, most frequent first: how many, and the first of them.

    A large real config has thousands of warnings of a handful of kinds; a reader needs the
    kinds and one place to look at, not every line.
    """
    by_kind: dict[str, list[Diagnostic]] = {}
    for warning in warnings:
        by_kind.setdefault(warning.kind or "other", []).append(warning)
    ranked = sorted(by_kind.items(), key=lambda item: (-len(item[1]), item[0]))
    return [f"{len(items):>6} {kind}, e.g. {items[0]}" for kind, items in ranked]
