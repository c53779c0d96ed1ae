"""In-repo job config at trigger time: check out the tested tree, read its jobs, merge them.

The tree is what the job will test: the base with the pull request merged (as clonerefs builds
it), or the pushed commit. Results are cached per (repository, base sha, pull shas), since every
comment and label on a pull request asks again for the same tree.

As in Prow, a failure (no merge, unreachable repository, invalid in-repo file) falls back to
the central jobs alone and is logged: the in-repo config must not be able to block the central
jobs, which include the ones that check the in-repo config itself.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from foredeck.config import Diagnostic, JobConfig, load_in_repo, merge_in_repo
from foredeck.hook.plugins.trigger.options import TriggerConfig
from foredeck.scm.git import CheckoutError, checkout
from foredeck.types import Refs

log = logging.getLogger(__name__)

CACHE_SIZE = 64

CacheKey = tuple[str, str, str, tuple[str, ...]]


@dataclass(frozen=True)
class InRepoJobs:
    """The jobs to use, and why the in-repo config was left out (errors naming `file:line`)."""

    jobs: JobConfig
    errors: tuple[Diagnostic, ...] = ()


class InRepoConfigs:
    def __init__(self, options: TriggerConfig, cache_size: int = CACHE_SIZE) -> None:
        self.options = options
        self.cache_size = cache_size
        self._cache: OrderedDict[CacheKey, tuple[JobConfig, InRepoJobs]] = OrderedDict()
        """key -> (the central config it was merged with, the merged config)"""
        self.loads = 0
        """How many trees were checked out and read (for tests and metrics)."""

    async def merged(self, central: JobConfig, refs: Refs) -> InRepoJobs:
        """`central` plus the in-repo jobs of `refs`' tree; `central` alone if that fails."""
        if not refs.base_sha or any(not p.sha for p in refs.pulls):
            raise ValueError("in-repo config needs the base sha and every pull's sha")
        key: CacheKey = (
            refs.org.lower(),
            refs.repo.lower(),
            refs.base_sha,
            tuple(p.sha for p in refs.pulls),
        )
        cached = self._cache.get(key)
        if cached is not None and cached[0] is central:  # a reloaded central config misses
            self._cache.move_to_end(key)
            return cached[1]
        merged = await self._load(central, refs)
        if merged is None:
            return InRepoJobs(central)  # not cached: the next event tries again
        self._cache[key] = (central, merged)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return merged

    async def _load(self, central: JobConfig, refs: Refs) -> InRepoJobs | None:
        org_repo = f"{refs.org}/{refs.repo}"
        what = f"{org_repo}@{refs.base_sha[:12]}" + "".join(
            f"+#{p.number}:{p.sha[:12]}" for p in refs.pulls
        )
        work = self.options.work_root
        work.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="inrepo-", dir=work))
        try:
            dest = scratch / "tree"
            try:
                await checkout(
                    refs,
                    dest,
                    mirror_root=self.options.mirror_root,
                    clone_uri=self.options.clone_uri_for,
                    timeout=self.options.checkout_timeout,
                )
            except (CheckoutError, ValueError, OSError) as exc:
                log.warning(
                    "in-repo config of %s: checkout failed; central jobs only: %s", what, exc
                )
                return None
            self.loads += 1
            result = load_in_repo(dest, org_repo, central=central)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not result.ok:
            problems = "; ".join(str(d) for d in result.errors[:10])
            log.warning("in-repo config of %s is invalid; central jobs only: %s", what, problems)
            return InRepoJobs(central, tuple(result.errors))
        merged, warnings = merge_in_repo(central, result, org_repo)
        for warning in [*result.warnings, *warnings]:
            log.warning("in-repo config of %s: %s", what, warning)
        return InRepoJobs(merged)
