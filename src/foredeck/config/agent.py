"""The config agent (Prow's `config/agent.go`): the central job config every component reads,
reloaded when its files change.

A broken config at startup is a startup error: better not to serve than to silently run no
jobs. A broken edit later keeps the last good config, logs every problem and says why in
`problem`, so that one bad commit to the config repository does not stop CI for every
repository. So does an edit that leaves no job at all (an editor truncating a file before
writing it), unless the setting `config_allow_empty` says an empty config is meant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from foredeck.config.jobconfig import JobConfig
from foredeck.config.loader import discover, load_config
from foredeck.config.result import ConfigResult, warning_summary

if TYPE_CHECKING:
    from foredeck.settings import Settings

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


class ConfigAgent:
    """The jobs of `path` (file or directory); `None` means no central jobs at all.

    Raises `JobConfigError` when the config at `path` is missing or invalid now."""

    def __init__(
        self,
        path: str | None,
        *,
        reload_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        allow_empty: bool = False,
        lease_types: frozenset[str] | None = None,
    ) -> None:
        self.path = path
        self.lease_types = lease_types
        """The lease types jobs may name (None: not checked)."""
        self.reload_interval = reload_interval
        """Seconds `get` waits between looks at the files (0: every call)."""
        self.allow_empty = allow_empty
        self.problem: str | None = None
        """Why the files on disk are not the config in use (the last reload was refused)."""
        self._clock = clock
        self._checked_at = 0.0
        self._fingerprint: Fingerprint = ()
        self._jobs = JobConfig()
        if path is not None:
            if not Path(path).exists():
                raise JobConfigError(f"job config {path}: no such file or directory")
            self._fingerprint = self._current_fingerprint(path)
            result = load_config([path], lease_types=self.lease_types)
            if not result.ok:
                raise JobConfigError(_describe(result, path))
            self._warn(result)
            self._jobs = result.jobs
            self._checked_at = clock()

    @classmethod
    def from_settings(cls, settings: Settings, *, reload_interval: float = 5.0) -> ConfigAgent:
        """The config of `settings.config_path`, with `settings.config_allow_empty`."""
        return cls(
            settings.config_path,
            reload_interval=reload_interval,
            allow_empty=settings.config_allow_empty,
            lease_types=frozenset(t.name for t in settings.leases.types),
        )

    def get(self) -> JobConfig:
        """The current jobs, reloading first if `reload_interval` passed and the files changed.

        The same object until a reload takes a new config, so callers can tell by identity."""
        if self.path is not None:
            now = self._clock()
            if now - self._checked_at >= self.reload_interval:
                self._reload(self.path, now)
        return self._jobs

    def reload(self) -> bool:
        """Look at the files now; True if a changed config was taken. A refused one keeps the
        jobs in use and sets `problem`."""
        if self.path is None:
            return False
        return self._reload(self.path, self._clock())

    @staticmethod
    def _current_fingerprint(path: str) -> Fingerprint:
        files, _ = discover([Path(path)])
        stats: list[tuple[str, int, int]] = []
        for file in files:
            try:
                st = file.stat()
            except OSError:
                continue
            stats.append((str(file), st.st_mtime_ns, st.st_size))
        return tuple(sorted(stats))

    def _reload(self, path: str, now: float) -> bool:
        self._checked_at = now
        try:
            fingerprint = self._current_fingerprint(path)
        except OSError as exc:
            log.error("job config %s: cannot list files (keeping the loaded jobs): %s", path, exc)
            return False
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        result = load_config([path], lease_types=self.lease_types)
        if not result.ok:
            self._refuse(f"{_describe(result, path)}\nkeeping the previously loaded jobs")
            return False
        had = _job_count(self._jobs)
        if not self.allow_empty and had and not _job_count(result.jobs):
            self._refuse(
                f"job config {path}: the new config has no jobs (the loaded one has {had}); "
                "keeping the previously loaded jobs. An emptied file is usually an edit in "
                "progress; set config_allow_empty: true to allow a config without jobs"
            )
            return False
        self.problem = None
        self._warn(result)
        self._jobs = result.jobs
        log.info("job config %s reloaded: %s", path, result.jobs.counts())
        return True

    def _refuse(self, why: str) -> None:
        self.problem = why
        log.error("%s", why)

    @staticmethod
    def _warn(result: ConfigResult) -> None:
        if result.warnings:
            summary = "\n  ".join(warning_summary(result.warnings))
            log.warning("job config: %d warnings by kind:\n  %s", len(result.warnings), summary)


def _job_count(jobs: JobConfig) -> int:
    c = jobs.counts()
    return c["presubmits"] + c["postsubmits"] + c["periodics"]
