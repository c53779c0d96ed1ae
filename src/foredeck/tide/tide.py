"""Tide, the merge pool: merges pull requests that are ready, testing batches of them together.

Every `sync_period` (or when woken), for each repository the `tide:` queries cover: list its open
pull requests, the statuses of their heads and the merge-blocking issues; group them by base
branch (a pool); judge each (labels against the queries, required contexts, with the in-repo
presubmits of its tree where the trigger reads in-repo config); decide per pool
(`tide.pool.plan`) and act: merge through the SCM, or start retests and batches as jobs; then
set each pull request's `tide` status to why it is not merging (or "In merge pool."). Statuses
are written only when they change. No state is kept beyond the job table, so a restart or a
second process decides the same.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine

from foredeck.config import ConfigAgent, JobConfig, Presubmit
from foredeck.config.tide import TideConfig
from foredeck.config.triggering import wants_changes
from foredeck.jobs import pull_refs
from foredeck.polling import Poller
from foredeck.scm.github_types import (
    CommitStatus,
    GitHubError,
    PullRequest,
    StatusState,
    status_description,
)
from foredeck.scm.inrepo import InRepoOptions
from foredeck.settings import Settings
from foredeck.tide.contexts import (
    TIDE_CONTEXT,
    judge,
    pool_misses,
    required_for,
    wants_reviews,
)
from foredeck.tide.history import PullKey, batches, latest_presubmits, start_runs
from foredeck.tide.inrepo import InRepoTrees, in_repo_options
from foredeck.tide.pool import Entry, Plan, PoolState, finished_batches, plan
from foredeck.tide.record import save_pools
from foredeck.tide.scm import TideClient, TideScm
from foredeck.types import Refs

log = logging.getLogger(__name__)

IDLE_INTERVAL = 60.0
"""Seconds between looks at the config while it has no `tide:` section."""
MAX_CHANGE_CACHE = 20_000


@dataclass
class SyncResult:
    pools: list[PoolState] = field(default_factory=list)
    merged: list[tuple[str, int]] = field(default_factory=list)
    started: int = 0
    statuses: int = 0


class Tide:
    def __init__(
        self,
        engine: Engine,
        config: ConfigAgent | Callable[[], JobConfig],
        scm: TideScm,
        *,
        dashboard_url: str = "",
        registry: CollectorRegistry | None = None,
        on_started: Callable[[], None] | None = None,
        in_repo: InRepoOptions | None = None,
    ) -> None:
        """`on_started`: called after a sync started runs (wakes the controller); `in_repo`:
        the trigger's in-repo settings (`in_repo_config` per repository, where to clone from):
        the presubmits of those repositories' own `.foredeck.yaml` are required too."""
        self._on_started = on_started
        options = (in_repo or InRepoOptions()).model_copy()
        options.use_clone_uri(scm.clone_uri)  # read from where the jobs clone from
        self._in_repo = InRepoTrees(options)
        self._engine = engine
        self._config = config.get if isinstance(config, ConfigAgent) else config
        self._scm = scm
        self._dashboard_url = dashboard_url.rstrip("/")
        self._changes: dict[tuple[str, str, str, str], list[str]] = {}
        self.last: SyncResult | None = None
        self._lock = threading.Lock()
        self._merges = (
            Counter("foredeck_tide_merges", "Pull requests Tide merged.", registry=registry)
            if registry is not None
            else None
        )
        self._poller = Poller("foredeck-tide", self.sync_once, self._interval)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: Engine,
        config: ConfigAgent,
        scm: TideScm,
        registry: CollectorRegistry | None = None,
        on_started: Callable[[], None] | None = None,
        in_repo: InRepoOptions | None = None,
    ) -> Tide:
        """`in_repo`: default, the in-repo settings of `plugin_config.trigger`."""
        return cls(
            engine,
            config,
            scm,
            dashboard_url=settings.reporter.dashboard_url,
            registry=registry,
            on_started=on_started,
            in_repo=in_repo or in_repo_options(settings.plugin_config.get("trigger")),
        )

    @property
    def in_repo_reads(self) -> int:
        """How many trees' in-repo config was read (checkouts; cached ones are not counted)."""
        return self._in_repo.reads

    def start(self) -> threading.Thread:
        return self._poller.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._poller.stop(timeout)

    def notify(self) -> None:
        self._poller.notify()

    def _interval(self) -> float:
        tide = self._config().tide
        return tide.sync_seconds if tide is not None else IDLE_INTERVAL

    # -- one sync ----------------------------------------------------------------------------

    def sync_once(self) -> SyncResult:
        """One sync of every pool (in this thread, on an event loop of its own)."""
        with self._lock:
            result = asyncio.run(self.sync())
            self.last = result
            return result

    async def sync(self) -> SyncResult:
        jobs = self._config()
        result = SyncResult()
        if jobs.tide is None or not jobs.tide.queries:
            return result
        client = self._scm.client_factory()()
        self._in_repo.new_sync()
        try:
            for org, repo in _repos(jobs.tide, jobs):
                try:
                    await self._sync_repo(client, jobs, jobs.tide, org, repo, result)
                except GitHubError as exc:
                    log.warning("tide: %s/%s skipped: %s", org, repo, exc)
        finally:
            await client.close()
        await asyncio.to_thread(save_pools, self._engine, result.pools)
        if result.started and self._on_started is not None:
            self._on_started()
        return result

    async def _sync_repo(
        self,
        client: TideClient,
        jobs: JobConfig,
        tide: TideConfig,
        org: str,
        repo: str,
        result: SyncResult,
    ) -> None:
        pulls = await client.list_open_pulls(org, repo)
        if not pulls:
            return
        blockers = []
        if tide.blocker_label:
            blockers = await client.issues_labelled(org, repo, tide.blocker_label)
        statuses = await client.statuses_of(org, repo, [p.head.sha for p in pulls])
        branches: dict[str, list[PullRequest]] = {}
        for pr in pulls:
            branches.setdefault(pr.base.ref, []).append(pr)
        for branch, prs in sorted(branches.items()):
            base_sha = await client.get_branch_sha(org, repo, branch)
            at = _Pool(client, jobs, tide, org, repo, branch, base_sha)
            entries = [await self._entry(at, pr, statuses.get(pr.head.sha, [])) for pr in prs]
            if blockers:
                why = f"Merging is blocked by issue #{blockers[0].number}"
                for entry in entries:
                    entry.misses = [*(entry.misses or []), why]
            decided = await self._decide(at, entries)
            merged = await self._act(at, decided, result)
            pool = PoolState(org, repo, branch, base_sha, decided.action)
            for entry in entries:
                state, why = _tide_status(entry, decided)
                text = status_description(why)  # as stored: a long one is not rewritten each sync
                pool.add(entry, text)
                if entry.pr.number in merged:
                    continue
                if _current_tide(statuses.get(entry.pr.head.sha, [])) != (state, text):
                    await client.create_status(
                        org, repo, entry.pr.head.sha, state, TIDE_CONTEXT, text, self._target()
                    )
                    result.statuses += 1
            result.pools.append(pool)

    async def _entry(self, at: _Pool, pr: PullRequest, statuses: Sequence[CommitStatus]) -> Entry:
        tide, org, repo = at.tide, at.org, at.repo
        approved = wants_reviews(tide, org, repo) and await at.client.review_approved(
            org, repo, pr.number
        )
        misses = pool_misses(tide, pr, approved)
        jobs = at.jobs
        if misses is None and self._in_repo.enabled(org, repo):  # a checkout: pool members only
            found = await self._in_repo.jobs(jobs, self._refs(at, [pr]))
            if isinstance(found, str):
                misses = [found]  # fail closed: what must pass is not known
            else:
                jobs = found
        required = required_for(tide, org, repo, at.branch, await self._presubmits(at, jobs, [pr]))
        return Entry(pr, misses, required, judge(required, statuses))

    async def _presubmits(
        self, at: _Pool, jobs: JobConfig, prs: Sequence[PullRequest]
    ) -> list[Presubmit]:
        """The presubmits of `jobs` (central, or with a tree's in-repo ones) that run for the
        changes of `prs` together."""
        full = f"{at.org}/{at.repo}"
        changes: list[str] = []
        if wants_changes(jobs.presubmits.get(full, ()), at.branch):
            for pr in prs:
                changes += await self._changed_files(at.client, at.org, at.repo, pr)
        return jobs.presubmits_to_run(full, at.branch, sorted(set(changes)))

    async def _changed_files(
        self, client: TideClient, org: str, repo: str, pr: PullRequest
    ) -> list[str]:
        """A pull request's changed files: asked once per head and base."""
        key = (org, repo, pr.head.sha, pr.base.sha)
        found = self._changes.get(key)
        if found is None:
            found = await client.list_pull_files(org, repo, pr.number)
            if len(self._changes) >= MAX_CHANGE_CACHE:
                self._changes.clear()
            self._changes[key] = found
        return found

    async def _decide(self, at: _Pool, entries: list[Entry]) -> Plan:
        org, repo, base = at.org, at.repo, at.base
        ready = {e.pr.number: e.pr.head.sha for e in entries if e.ready}
        runs = latest_presubmits(self._engine, org, repo, ready)
        done = batches(self._engine, org, repo, at.branch, base) if ready else {}
        limit = at.tide.batch_limit(org, repo)
        if not ready or not self._in_repo.enabled(org, repo):
            return plan(entries, base, runs, done, limit)
        # A batch's own tree says what it must pass: read for the batches that may merge now,
        # and for a new one only once the plan starts it.
        trees: dict[PullKey, list[Presubmit]] = {}
        for members in finished_batches(entries, done):
            found = await self._batch_tree(at, members)
            if found is not None:
                trees[tuple(e.key for e in members)] = found
        decided = plan(entries, base, runs, done, limit, trees)
        if decided.action == "batch":
            found = await self._batch_tree(at, decided.start)
            if found is not None:
                trees[tuple(e.key for e in decided.start)] = found
                decided = plan(entries, base, runs, done, limit, trees)
        return decided

    async def _batch_tree(self, at: _Pool, members: list[Entry]) -> list[Presubmit] | None:
        """The required presubmits of the batch's own tree (base and every member merged); None
        when it cannot be read (the plan then takes the union of the members')."""
        prs = [e.pr for e in members]
        found = await self._in_repo.jobs(at.jobs, self._refs(at, prs))
        if isinstance(found, str):
            return None
        presubmits = await self._presubmits(at, found, prs)
        return list(required_for(at.tide, at.org, at.repo, at.branch, presubmits).jobs)

    async def _act(self, at: _Pool, decided: Plan, result: SyncResult) -> set[int]:
        """Merge or start what `decided` says; the numbers merged."""
        client, tide, org, repo = at.client, at.tide, at.org, at.repo
        merged: set[int] = set()
        for entry in decided.merge:
            pr = entry.pr
            method = tide.method_for(org, repo, {label.name for label in pr.labels})
            try:
                await client.merge_pull(org, repo, pr.number, sha=pr.head.sha, method=method)
            except GitHubError as exc:
                log.warning("tide: merging %s/%s#%d failed: %s", org, repo, pr.number, exc)
                decided.action = f"merge failed: {exc.message[:100]}"
                break
            log.info("tide: merged %s/%s#%d (%s)", org, repo, pr.number, method)
            merged.add(pr.number)
            result.merged.append((f"{org}/{repo}", pr.number))
            if self._merges is not None:
                self._merges.inc()
        if decided.start:
            refs = self._refs(at, [e.pr for e in decided.start])
            numbers = ", ".join(f"#{e.pr.number}" for e in decided.start)
            reason = f"tide: {'batch' if decided.action == 'batch' else 'retest'} of {numbers}"
            result.started += await asyncio.to_thread(
                start_runs, self._engine, decided.jobs, refs, reason
            )
        return merged

    def _refs(self, at: _Pool, prs: list[PullRequest]) -> Refs:
        """The refs of `prs` merged on the pool's base, as the jobs Tide starts check out."""
        org, repo, base_sha, links = at.org, at.repo, at.base, self._scm.links
        made = [
            pull_refs(
                org=org,
                repo=repo,
                repo_link=links.repo(org, repo),
                base_ref=at.branch,
                base_sha=base_sha,
                number=pr.number,
                head_sha=pr.head.sha,
                author=pr.user.login,
                author_link=links.user(pr.user.login),
                title=pr.title,
                link=pr.html_url,
                base_link=links.commit(org, repo, base_sha),
                commit_link=links.pull_commit(org, repo, pr.number, pr.head.sha),
                pull_ref=self._scm.pull_ref,
            )
            for pr in prs
        ]
        return made[0].model_copy(update={"pulls": [r.pulls[0] for r in made]})

    def _target(self) -> str | None:
        tide = self._config().tide
        if tide is not None and tide.target_url:
            return tide.target_url
        return f"{self._dashboard_url}/tide" if self._dashboard_url else None


@dataclass(frozen=True)
class _Pool:
    """What a sync knows of the pool it is deciding: the client and config of this sync, and
    the branch with the base commit its pull requests would merge on."""

    client: TideClient
    jobs: JobConfig
    tide: TideConfig
    org: str
    repo: str
    branch: str
    base: str


def _repos(tide: TideConfig, jobs: JobConfig) -> list[tuple[str, str]]:
    """The repositories the queries name, and those of their orgs that have presubmits."""
    named = {r for q in tide.queries for r in q.repos}
    orgs = {o for q in tide.queries for o in q.orgs}
    named |= {r for r in jobs.repos() if r.split("/", 1)[0] in orgs}
    pairs = [(r.split("/", 1)[0], r.split("/", 1)[1]) for r in sorted(named)]
    return [(o, r) for o, r in pairs if any(q.covers(o, r) for q in tide.queries)]


def _current_tide(statuses: Sequence[CommitStatus]) -> tuple[str, str] | None:
    for status in statuses:  # newest first
        if status.context == TIDE_CONTEXT:
            return status.state, status.description or ""
    return None


def _tide_status(entry: Entry, decided: Plan) -> tuple[StatusState, str]:
    """The `tide` status of a pull request: success when it is in the pool and green."""
    if entry.misses:
        return "pending", "Not mergeable. " + "; ".join(entry.misses[:3]) + "."
    if entry.verdict.state != "success":
        return "pending", f"Not mergeable. {entry.verdict.detail}."
    if entry in decided.testing:
        return "success", "In merge pool. Testing in a batch."
    if entry in decided.start:
        return "success", "In merge pool. Testing" + (
            " in a batch." if len(decided.start) > 1 else "."
        )
    return "success", "In merge pool."
