"""The reporter (Prow's crier): job states become commit statuses and one PR comment.

A job is due when its `state` differs from its `reported_state` and it is not suppressed. A pass
reads due jobs (read-only), sends their statuses, updates the report comment of every pull
request where a presubmit finished, and only then records `reported_state` with a
compare-and-set on the state it sent. No database transaction is open while the SCM is called.

Crash safety follows from that order: a crash before the record leaves the job due, so it is
reported again (the same status twice is harmless; the comment is recomputed from the database
and found again by its marker, so it is edited, never duplicated). Ordering: a job only ever
moves triggered -> pending -> final, the reporter sends the state the job has when it is read,
and after sending a state it re-reads the job; if the job moved on meanwhile, its current state
is sent next. So whatever overtook a pending status, the final status is sent after it.

An SCM error for one job is logged and that job is retried on a later pass with exponential
backoff; the other jobs go on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from foredeck.polling import Poller
from foredeck.report.comment import MAX_ROWS, failed_jobs, is_report, render
from foredeck.report.metrics import ReporterMetrics
from foredeck.report.queries import JobView, ReportStore
from foredeck.report.scm import ReportClient, ReportScm
from foredeck.report.status import status_for
from foredeck.settings import Settings

log = logging.getLogger(__name__)

MAX_ROUNDS = 4
"""Sends per job and pass: a job that keeps moving on is finished on the next pass."""

PullKey = tuple[str, str, int]


@dataclass
class _Outcome:
    recorded: int = 0
    deferred: tuple[PullKey, int, str] | None = None
    """A finished presubmit whose status was sent: recorded after its PR's comment is updated."""


@dataclass
class _Backoff:
    attempts: int = 0
    not_before: float = 0.0


@dataclass
class _Pass:
    recorded: int = 0
    pulls: dict[PullKey, list[tuple[int, str]]] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)


class Reporter:
    def __init__(
        self,
        engine: Engine,
        client_factory: Callable[[], ReportClient],
        *,
        dashboard_url: str = "http://127.0.0.1:8888",
        poll_interval: float = 1.0,
        bot_login: str | None = None,
        retry_backoff: float = 5.0,
        max_backoff: float = 600.0,
        batch_size: int = 100,
        concurrency: int = 4,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dashboard_url = dashboard_url.rstrip("/")
        self.poll_interval = poll_interval
        self.configured_bot_login = bot_login
        self.retry_backoff = retry_backoff
        self.max_backoff = max_backoff
        self.batch_size = batch_size
        self.concurrency = max(1, concurrency)
        self._store = ReportStore(engine)
        self._client_factory = client_factory
        self._client: ReportClient | None = None
        self._learned_bot_login: str | None = None
        self._backoff: dict[int, _Backoff] = {}
        self._clock = clock
        self._metrics = ReporterMetrics(registry) if registry is not None else None
        self._runner: asyncio.Runner | None = None
        self._poller = Poller(
            "foredeck-reporter",
            self._report_in_thread,
            lambda: self.poll_interval,
            on_exit=self._close_runner,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: Engine,
        scm: ReportScm,
        registry: CollectorRegistry | None = None,
    ) -> Reporter:
        """A reporter configured by `settings.reporter`, reporting through the SCM provider
        `scm` as its configured bot. Raises `ValueError` when the SCM's credentials are not
        usable (read now, not on the first report)."""
        return cls(
            engine,
            scm.client_factory(),
            dashboard_url=settings.reporter.dashboard_url,
            poll_interval=settings.reporter.poll_interval,
            bot_login=scm.bot_login,
            registry=registry,
        )

    @property
    def bot_login(self) -> str | None:
        """Who the reports are written as: the SCM's own answer (the creator of the statuses
        this reporter sent) once known, else the configured login, else unknown (None)."""
        return self._learned_bot_login or self.configured_bot_login

    def notify(self) -> None:
        """Wake the reporter now (thread-safe), e.g. after the controller finished a job."""
        self._poller.notify()

    # -- one pass ---------------------------------------------------------------------------

    async def report_pending(self) -> int:
        """Report every due job once; returns how many jobs had their report recorded.

        Not reentrant: one pass at a time per reporter (the thread of `start()` or a test).
        """
        client = self._get_client()
        run = _Pass()
        after = 0
        while not self._poller.stopping.is_set():
            batch = self._store.due(after, self.batch_size)
            if not batch:
                break
            after = batch[-1].id
            run.seen.update(job.id for job in batch)
            now = self._clock()
            jobs = [job for job in batch if self._is_due(job.id, now)]
            outcomes = await self._gather(client, jobs)
            for outcome in outcomes:
                run.recorded += outcome.recorded
                if outcome.deferred is not None:
                    key, job_id, state = outcome.deferred
                    run.pulls.setdefault(key, []).append((job_id, state))
        for key, reported in run.pulls.items():
            if await self._update_comment(client, key):
                for job_id, state in reported:
                    try:
                        if self._record(job_id, state):
                            run.recorded += 1
                    except Exception:
                        log.warning("reporter: cannot record job %s", job_id, exc_info=True)
                        self._failed(job_id)
            else:
                for job_id, _ in reported:
                    self._failed(job_id)
        if not self._poller.stopping.is_set():
            for job_id in [j for j in self._backoff if j not in run.seen]:
                del self._backoff[job_id]  # reported by someone else, suppressed or deleted
        return run.recorded

    async def _gather(self, client: ReportClient, jobs: list[JobView]) -> list[_Outcome]:
        limit = asyncio.Semaphore(self.concurrency)

        async def one(job: JobView) -> _Outcome:
            async with limit:
                try:
                    return await self._report_job(client, job)
                except Exception:
                    log.warning("reporter: job %s (%s) failed", job.id, job.name, exc_info=True)
                    self._failed(job.id)
                    self._count(job.state, "failed")
                    return _Outcome()

        return list(await asyncio.gather(*(one(job) for job in jobs)))

    async def _report_job(self, client: ReportClient, job: JobView) -> _Outcome:
        # Send the state the job has now, not the one it had when the batch was read.
        current = job if job.finished else self._store.get(job.id)
        if current is None or current.reported_state == current.state:
            return _Outcome()
        for _ in range(MAX_ROUNDS):
            if current is None or current.suppress_report:
                return _Outcome()
            report = status_for(current, self.dashboard_url)
            if report is None:
                self._count(current.state, "skipped")
            else:
                status = await client.create_status(
                    report.org,
                    report.repo,
                    report.sha,
                    report.state,
                    report.context,
                    report.description,
                    report.target_url,
                )
                if status.creator is not None and status.creator.login:
                    self._learned_bot_login = status.creator.login
                self._count(current.state, "sent")
                if (
                    current.type == "presubmit"
                    and current.finished
                    and current.org
                    and current.repo
                    and current.pull_number is not None
                ):
                    key = (current.org, current.repo, current.pull_number)
                    return _Outcome(deferred=(key, current.id, current.state))
            if self._record(current.id, current.state):
                return _Outcome(recorded=1)
            # The job moved on while its status was on the way: send what it is now, so that a
            # pending status never stays after a final one (even one another reporter sent).
            fresh = self._store.get(current.id)
            if fresh is None or fresh.state == current.state:
                return _Outcome()
            current = fresh
        return _Outcome()

    def _record(self, job_id: int, state: str) -> bool:
        recorded = self._store.record(job_id, state)
        if recorded:
            self._backoff.pop(job_id, None)
        return recorded

    # -- the PR comment ---------------------------------------------------------------------

    async def _update_comment(self, client: ReportClient, key: PullKey) -> bool:
        """Make the PR's report comment match the database; False (logged) on an SCM error."""
        org, repo, number = key
        try:
            jobs = self._store.pull_jobs(org, repo, number)
            failed = failed_jobs(jobs)
            known = self._store.known_flakes([j.id for j in failed[:MAX_ROWS]])
            body = render(org, repo, number, failed, self.dashboard_url, known)
            comments = await client.list_issue_comments(org, repo, number)
            ours = [c for c in comments if is_report(c, self.bot_login)]
            if body is None:
                for comment in ours:
                    await client.delete_comment(org, repo, comment.id)
                self._count_comment("deleted" if ours else "unchanged")
                return True
            if not ours:
                await client.create_comment(org, repo, number, body)
                self._count_comment("created")
                return True
            keep, *extra = ours
            if keep.body != body:
                await client.edit_comment(org, repo, keep.id, body)
            for comment in extra:  # left by a crash or a concurrent reporter
                await client.delete_comment(org, repo, comment.id)
            self._count_comment("edited" if keep.body != body else "unchanged")
            return True
        except Exception:
            log.warning(
                "reporter: cannot update the report comment on %s/%s#%d", *key, exc_info=True
            )
            self._count_comment("failed")
            return False

    # -- backoff and metrics ----------------------------------------------------------------

    def _is_due(self, job_id: int, now: float) -> bool:
        entry = self._backoff.get(job_id)
        return entry is None or now >= entry.not_before

    def _failed(self, job_id: int) -> None:
        entry = self._backoff.setdefault(job_id, _Backoff())
        entry.attempts += 1
        delay = min(self.retry_backoff * 2 ** (entry.attempts - 1), self.max_backoff)
        entry.not_before = self._clock() + delay

    def _count(self, state: str, result: str) -> None:
        if self._metrics is not None:
            self._metrics.reports.labels(state, result).inc()

    def _count_comment(self, action: str) -> None:
        if self._metrics is not None:
            self._metrics.comments.labels(action).inc()

    # -- the SCM client and the thread ------------------------------------------------------

    def _get_client(self) -> ReportClient:
        """The client, made on first use on the running loop (httpx clients bind to a loop)."""
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    async def aclose(self) -> None:
        """Close the SCM client (on the loop that made it)."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def start(self) -> threading.Thread:
        """Report in a daemon thread with a private asyncio loop, every `poll_interval` and on
        every `notify()`, until `stop()`."""
        return self._poller.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the pass in progress (at the next batch) and close the client."""
        self._poller.stop(timeout)

    def _report_in_thread(self) -> int:
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(self.report_pending())

    def _close_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            runner.run(self.aclose())
        except Exception:
            log.exception("reporter: closing the SCM client failed")
        runner.close()
