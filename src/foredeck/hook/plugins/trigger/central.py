"""The central job config, reloaded when its files change (as Prow's config agent does).

A broken config at startup is a startup error: better not to serve than to silently run no
jobs. A broken edit later keeps the last good config and logs every problem, so that one bad
commit to the config repository does not stop CI for every repository.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from foredeck.config import ConfigResult, JobConfig, discover, load_config

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 20

Fingerprint = tuple[tuple[str, int, int], ...]


class JobConfigError(ValueError):
    """The central job config cannot be used; the message lists the problems."""


def _describe(result: ConfigResult, path: str) -> str:
    lines = [str(d) for d in result.errors[:MAX_LISTED_ERRORS]]
    more = len(result.errors) - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    return f"job config {path}: {len(result.errors)} error(s):\n  " + "\n  ".join(lines)


class CentralConfig:
    """The jobs of `path` (file or directory); `None` means no central jobs at all."""

    def __init__(
        self,
        path: str | None,
        *,
        reload_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.reload_interval = reload_interval
        self._clock = clock
        self._checked_at = 0.0
        self._fingerprint: Fingerprint = ()
        self._jobs = JobConfig()
        if path is not None:
            if not Path(path).exists():
                raise JobConfigError(f"job config {path}: no such file or directory")
            self._fingerprint = self._current_fingerprint()
            result = load_config([path])
            if not result.ok:
                raise JobConfigError(_describe(result, path))
            self._warn(result)
            self._jobs = result.jobs
            self._checked_at = clock()

    def get(self) -> JobConfig:
        """The current jobs, reloading first if the files changed since the last check."""
        if self.path is None:
            return self._jobs
        now = self._clock()
        if now - self._checked_at >= self.reload_interval:
            self._checked_at = now
            self._maybe_reload(self.path)
        return self._jobs

    def _current_fingerprint(self) -> Fingerprint:
        assert self.path is not None
        files, _ = discover([Path(self.path)])
        stats: list[tuple[str, int, int]] = []
        for file in files:
            try:
                st = file.stat()
            except OSError:
                continue
            stats.append((str(file), st.st_mtime_ns, st.st_size))
        return tuple(sorted(stats))

    def _maybe_reload(self, path: str) -> None:
        try:
            fingerprint = self._current_fingerprint()
        except OSError as exc:
            log.error("job config %s: cannot list files (keeping the loaded jobs): %s", path, exc)
            return
        if fingerprint == self._fingerprint:
            return
        self._fingerprint = fingerprint
        result = load_config([path])
        if not result.ok:
            log.error("%s\nkeeping the previously loaded jobs", _describe(result, path))
            return
        self._warn(result)
        self._jobs = result.jobs
        log.info("job config %s reloaded: %s", path, result.jobs.counts())

    @staticmethod
    def _warn(result: ConfigResult) -> None:
        for warning in result.warnings[:MAX_LISTED_ERRORS]:
            log.warning("job config: %s", warning)
