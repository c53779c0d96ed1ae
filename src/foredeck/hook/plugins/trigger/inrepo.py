"""In-repo job config at trigger time: check out the tested tree, read its jobs, merge them
(`foredeck.scm.inrepo`, which Tide reads it through too).

The tree is what the job will test: the base with the pull request merged (as clonerefs builds
it), or the pushed commit. Results are cached per (repository, base sha, pull shas), since every
comment and label on a pull request asks again for the same tree.

As in Prow, a failure (no merge, unreachable repository, invalid in-repo file) falls back to
the central jobs alone and is logged: the in-repo config must not be able to block the central
jobs, which include the ones that check the in-repo config itself.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

from foredeck.config import Diagnostic, JobConfig
from foredeck.scm.inrepo import InRepoOptions, describe_refs, read_tree_config
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
    def __init__(self, options: InRepoOptions, cache_size: int = CACHE_SIZE) -> None:
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
        what = describe_refs(refs)
        tree = await read_tree_config(central, refs, self.options)
        if tree.failure:
            log.warning(
                "in-repo config of %s: checkout failed; central jobs only: %s", what, tree.failure
            )
            return None
        self.loads += 1
        if tree.jobs is None:
            problems = "; ".join(str(d) for d in tree.errors[:10])
            log.warning("in-repo config of %s is invalid; central jobs only: %s", what, problems)
            return InRepoJobs(central, tree.errors)
        return InRepoJobs(tree.jobs)
