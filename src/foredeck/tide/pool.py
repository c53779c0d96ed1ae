"""One pool (a repository's branch) in one sync: who is in it, and what Tide does next.

The order is Prow's: merge a batch whose runs on the current base are all green; else merge one
pull request whose presubmits passed on the current base (serial); else start a batch of the
ready pull requests (up to `batch_size_limit`), unless that very batch already failed on this
base (then fall back to serial); else retest the first ready pull request on the current base.
While a batch runs, nothing else starts, so that what it tests is what merges. A batch merges
only when every run of it is green.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from foredeck.config import Presubmit
from foredeck.scm.github_types import PullRequest
from foredeck.tide.contexts import Required, Verdict
from foredeck.tide.history import RUNNING, PullKey, Run


@dataclass
class Entry:
    """A pull request of a pool's repository and branch, judged."""

    pr: PullRequest
    misses: list[str] | None
    """Why it is not in the pool (None: it is)."""
    required: Required
    verdict: Verdict

    @property
    def key(self) -> tuple[int, str]:
        return (self.pr.number, self.pr.head.sha)

    @property
    def ready(self) -> bool:
        return self.misses is None and self.verdict.state == "success"


@dataclass
class Plan:
    """What to do in a pool now: merge `merge` (in order), or start `jobs` on `start`."""

    action: str = "wait"
    """`merge-batch`, `merge`, `batch`, `retest` or `wait`."""
    merge: list[Entry] = field(default_factory=list)
    start: list[Entry] = field(default_factory=list)
    jobs: list[Presubmit] = field(default_factory=list)
    testing: list[Entry] = field(default_factory=list)
    """In a batch that runs now (their `tide` status says so until it ends)."""


@dataclass
class PoolState:
    """A pool as a sync saw it (`tide_pools`, the dashboard's pool page)."""

    org: str
    repo: str
    branch: str
    base_sha: str
    action: str
    pulls: list[dict[str, object]] = field(default_factory=list)
    """Each pull request: `number`, `title`, `sha`, `why` (its `tide` status), `ready`."""

    def add(self, entry: Entry, why: str) -> None:
        pr = entry.pr
        self.pulls.append(
            {
                "number": pr.number,
                "title": pr.title,
                "sha": pr.head.sha,
                "why": why,
                "ready": entry.ready,
            }
        )


def plan(
    entries: list[Entry],
    base_sha: str,
    runs: dict[int, dict[str, Run]],
    batches: dict[PullKey, dict[str, Run]],
    batch_limit: int,
    tree_jobs: Mapping[PullKey, Sequence[Presubmit]] | None = None,
) -> Plan:
    """Decide for a pool; `runs`: the newest presubmit runs on each ready head, `batches`: the
    batches run on `base_sha`, `tree_jobs`: the presubmits of a batch's own tree where its
    in-repo config was read (`batch_jobs`)."""
    ready = _ready(entries)
    by_key = {e.key: e for e in ready}
    testing: list[Entry] = []
    for key, done in batches.items():
        members = [by_key[k] for k in key if k in by_key]
        names = {p.name for p in batch_jobs(members, (tree_jobs or {}).get(key))}
        if any(r.state in RUNNING for r in done.values()):
            testing += [e for e in members if e not in testing]
        elif len(members) == len(key) and names <= set(done) and _all_green(done, set(done)):
            return Plan("merge-batch", merge=members)
    fresh = [e for e in ready if _current(e, runs.get(e.pr.number, {}), base_sha)]
    if fresh:
        return Plan("merge", merge=fresh[:1])
    if testing:
        return Plan("wait", testing=testing)
    chosen = next_batch(ready, batches, batch_limit)
    if chosen:
        jobs = batch_jobs(chosen, (tree_jobs or {}).get(tuple(e.key for e in chosen)))
        if jobs:
            return Plan("batch", start=chosen, jobs=jobs)
    for entry in ready:
        done = runs.get(entry.pr.number, {})
        if any(r.state in RUNNING for r in done.values()):
            return Plan("wait")
        if entry.required.jobs:
            return Plan("retest", start=[entry], jobs=list(entry.required.jobs))
    return Plan("wait")


def batch_jobs(members: Sequence[Entry], tree: Sequence[Presubmit] | None) -> list[Presubmit]:
    """What a batch runs and must pass: its own tree's presubmits (`tree`, when known), and
    every member's own besides, so never fewer than their union (the tree's definition of a
    name wins: it is what merges)."""
    jobs = {p.name: p for e in members for p in e.required.jobs}
    jobs.update({p.name: p for p in tree or ()})
    return list(jobs.values())


def next_batch(
    ready: Sequence[Entry], batches: Mapping[PullKey, object], batch_limit: int
) -> list[Entry]:
    """The batch to start (lowest numbers first), unless it already ran on this base; empty
    when batches are off or fewer than two pull requests are ready."""
    chosen = list(ready) if batch_limit == 0 else list(ready[:batch_limit])
    if batch_limit < 0 or len(chosen) < 2 or tuple(e.key for e in chosen) in batches:
        return []
    return chosen


def finished_batches(
    entries: list[Entry], batches: dict[PullKey, dict[str, Run]]
) -> list[list[Entry]]:
    """The batches run on this base that `plan` may merge: no run of theirs is running, and
    their pull requests are all still ready at the same heads."""
    by_key = {e.key: e for e in _ready(entries)}
    return [
        [by_key[k] for k in key]
        for key, done in batches.items()
        if all(k in by_key for k in key) and not any(r.state in RUNNING for r in done.values())
    ]


def _ready(entries: list[Entry]) -> list[Entry]:
    return sorted((e for e in entries if e.ready), key=lambda e: e.pr.number)


def _all_green(done: dict[str, Run], names: set[str]) -> bool:
    return all(done[name].state == "success" for name in names)


def _current(entry: Entry, done: dict[str, Run], base_sha: str) -> bool:
    """Whether every presubmit of `entry` passed on `base_sha` (external contexts carry no
    base: their green status is all there is)."""
    for job in entry.required.jobs:
        run = done.get(job.name)
        if run is None or run.state != "success" or run.base_sha != base_sha:
            return False
    return True
