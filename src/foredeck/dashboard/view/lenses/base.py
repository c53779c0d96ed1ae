"""What every lens gets (the job, its build files, the request's paging) and gives back."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from foredeck.dashboard.links import WebLinks
from foredeck.dashboard.view.artifacts import BuildFiles
from foredeck.dashboard.view.logs import ErrorSearch, Matcher
from foredeck.db.models import Job

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 1024 * 1024
"""`started.json`, `finished.json`, `prowjob.json`, `pipeline-run.json` larger than this are
not parsed (a job writes them; the executor's own are a few KB)."""


@dataclass
class LensContext:
    job: Job
    files: BuildFiles | None
    top: set[str]
    """Names of the files at the top of the build directory."""
    matchers: list[Matcher]
    web: WebLinks
    """The SCM's links, for what the job's refs do not link themselves."""
    log_start: int | None = None
    log_end: int | None = None
    search: ErrorSearch | None = None
    """A "find the first error" search that found nothing (shown above the log)."""
    memo: dict[str, Any] = field(default_factory=dict)
    """What one lens read and another shows again (the summary: the JUnit report, the log page)."""
    _json: dict[str, Any] = field(default_factory=dict)

    def has(self, rel: str) -> bool:
        return rel in self.top

    def json(self, rel: str) -> Any:
        """A top-level JSON file parsed (cached), or None when missing, too large or broken."""
        if rel in self._json:
            return self._json[rel]
        value: Any = None
        if self.files is not None and self.has(rel):
            try:
                if self.files.size(rel) <= MAX_JSON_BYTES:
                    value = json.loads(self.files.read_bytes(rel))
            except (OSError, ValueError) as exc:
                log.warning("job %s: cannot read %s: %s", self.job.id, rel, exc)
        self._json[rel] = value
        return value


@dataclass
class Lens:
    name: str
    """The lens's id (`metadata`, `buildlog`, ...): the section's anchor and template name."""
    title: str
    data: dict[str, Any]

    @property
    def template(self) -> str:
        return f"view/lens_{self.name}.html"
