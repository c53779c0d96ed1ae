"""The in-repo presubmits Tide requires: read from the tree a pull request (or a batch) would
merge, the way the trigger reads them (`foredeck.scm.inrepo`, the trigger's settings).

Unlike the trigger, which falls back to the central jobs, Tide fails closed: a tree that cannot
be checked out, or whose in-repo config is invalid, gives the reason instead of jobs, and the
pull request waits with that reason in its `tide` status.

Reads are cached per (repository, base sha, head shas). A loaded or invalid config, or a merge
conflict, is kept across syncs while the central config is the same object (the tree cannot
change; a sync after a merge reads the trees on the new base); another failed checkout only for
the sync that saw it (it may be a passing network error).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from pydantic import ValidationError

from foredeck.config import JobConfig
from foredeck.scm.inrepo import InRepoOptions, describe_refs, read_tree_config
from foredeck.types import Refs
from foredeck.validation import problems

log = logging.getLogger(__name__)

CACHE_SIZE = 4096
"""Trees kept across syncs: more than the open pull requests of in-repo repositories."""

TreeKey = tuple[str, str, str, tuple[str, ...]]


def in_repo_options(trigger: Any) -> InRepoOptions:
    """The in-repo settings of the trigger's raw `plugin_config.trigger` (the plugin is never
    imported); `ValueError` naming every problem when they are invalid."""
    try:
        return InRepoOptions.model_validate(trigger or {})
    except ValidationError as exc:
        lines = "".join(f"\n  {line}" for line in problems(exc, InRepoOptions))
        raise ValueError(f"plugin_config.trigger: invalid in-repo options:{lines}") from None


class InRepoTrees:
    """The jobs of the trees Tide looks at: central plus in-repo, or why they are unknown."""

    def __init__(self, options: InRepoOptions, cache_size: int = CACHE_SIZE) -> None:
        self.options = options
        self.cache_size = cache_size
        self._cache: OrderedDict[TreeKey, tuple[JobConfig, JobConfig | str]] = OrderedDict()
        """key -> (the central config it was merged with, the jobs or why not)"""
        self._failed: dict[TreeKey, str] = {}
        """Checkouts that failed in this sync."""
        self.reads = 0
        """How many trees were checked out (for tests)."""

    def enabled(self, org: str, repo: str) -> bool:
        return self.options.in_repo_enabled(org, repo)

    def new_sync(self) -> None:
        """A failed checkout is tried again from now on."""
        self._failed.clear()

    async def jobs(self, central: JobConfig, refs: Refs) -> JobConfig | str:
        """`central` plus the in-repo jobs of `refs`' tree, or why they cannot be known."""
        # As spelt: the jobs are merged under `org/repo` as the refs name it (and looked up so).
        key: TreeKey = (refs.org, refs.repo, refs.base_sha, tuple(p.sha for p in refs.pulls))
        if key in self._failed:
            return self._failed[key]
        cached = self._cache.get(key)
        if cached is not None and cached[0] is central:  # a reloaded central config misses
            self._cache.move_to_end(key)
            return cached[1]
        self.reads += 1
        tree = await read_tree_config(central, refs, self.options)
        found: JobConfig | str
        if tree.failure:
            log.warning("tide: in-repo config of %s: %s", describe_refs(refs), tree.failure)
            found = f"In-repo config cannot be read: {tree.failure}"
            if not tree.lasting:
                self._failed[key] = found
                return found
        elif tree.jobs is None:
            first = tree.errors[0] if tree.errors else "it does not load"
            found = f"In-repo config is invalid: {first}"
        else:
            found = tree.jobs
        self._cache[key] = (central, found)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return found
