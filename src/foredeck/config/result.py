"""What loading a job config produces: the jobs, plus every warning and error found on the way."""

from __future__ import annotations

from dataclasses import dataclass, field

from foredeck.config.jobconfig import JobConfig
from foredeck.pipeline.model import Source


@dataclass(frozen=True)
class Diagnostic:
    """One message about the config. `str()` is `file:line: job NAME: message`."""

    source: Source
    message: str
    job: str | None = None

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
