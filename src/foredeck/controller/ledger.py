"""The controller's transactions: each a short one, run in the controller's own worker threads.

`queries.py` holds the SQL; this module opens the sessions (writes under `write_lock`, reads on
the read-only engine) and runs them in a small private pool, so that uploads and workspace
deletions in the default pool can never hold up a heartbeat. Recovering a dead controller's job
also kills what its run left on this host first (`leftovers.py`), moves its workspace aside
before a requeue, and seals its build in the store.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, update

from foredeck.controller import janitor, leftovers
from foredeck.controller.publishing import Publisher
from foredeck.controller.queries import (
    DIED,
    LOST,
    Claimed,
    StaleJob,
    any_triggered,
    claim,
    finish,
    heartbeat,
    load_jobs,
    recover,
    stale_jobs,
    still_ours,
)
from foredeck.controller.running import Outcome, Running
from foredeck.controller.workspace import move_aside, remove
from foredeck.db.engine import read_only, session_factory, write_lock
from foredeck.db.models import Job, JobState
from foredeck.db.testresults import CaseOutcome, record_run
from foredeck.db.types import utcnow

log = logging.getLogger(__name__)
DB_THREADS = 2
T = TypeVar("T")


class Ledger:
    """One controller's view of the job table (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str,
        host: str,
        workdir: Path,
        publisher: Publisher,
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.host = host
        self.workdir = workdir
        self.publisher = publisher
        self._sessions = session_factory(engine)
        self._reads = session_factory(read_only(engine))
        self._pool: ThreadPoolExecutor | None = None

    async def call(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(*args)` in the ledger's own pool."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="foredeck-ctl-db")
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(work, *args)
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def claim(self, limit: int, next_build_id: Callable[[int], str]) -> list[Claimed]:
        with write_lock(self.engine), self._sessions() as session, session.begin():
            return claim(
                session,
                owner=self.owner,
                limit=limit,
                next_build_id=next_build_id,
                workspace_for=lambda job_id: str(self.workdir / str(job_id)),
            )

    def has_triggered(self) -> bool:
        # A read first: on SQLite a claim is a write transaction, which an idle poll should not
        # take every second.
        with self._reads() as session, session.begin():
            return any_triggered(session)

    def heartbeat(self, ids: list[int]) -> set[int]:
        with write_lock(self.engine), self._sessions() as session, session.begin():
            return heartbeat(session, self.owner, ids)

    def still_ours(self, ids: list[int]) -> set[int]:
        with self._reads() as session, session.begin():
            return still_ours(session, self.owner, ids)

    def stale(self, running: frozenset[int], stale_after: float) -> list[StaleJob]:
        threshold = utcnow() - timedelta(seconds=stale_after)
        with self._reads() as session, session.begin():
            return stale_jobs(
                session, threshold=threshold, host=self.host, own_owner=self.owner, running=running
            )

    def recover_one(self, job: StaleJob, requeue: bool) -> JobState | None:
        trash: list[Path | None] = []
        with self._reads() as session, session.begin():  # before a requeue forgets its build id
            row = load_jobs(session, [job.id]).get(job.id)
        leftovers.kill_job_leftovers(job, self.host)  # before it is ended or runs again
        with write_lock(self.engine), self._sessions() as session, session.begin():
            state = recover(
                session,
                job,
                reason=LOST if job.owner == self.owner else DIED,
                requeue=requeue,
                before_requeue=lambda: trash.append(move_aside(job.workspace, self.workdir)),
            )
        for path in trash:
            remove(path)
        if state is not None and row is not None:
            self.publisher.seal_dead_build(row)
        return state

    def sweep_workdir(self, running: Collection[int], max_age: timedelta) -> list[int]:
        """Remove this machine's workspaces that no job needs (see `janitor`)."""
        ids = [i for i in janitor.workspace_ids(self.workdir) if i not in running]
        cutoff = utcnow() - max_age
        gone: list[int] = []
        for start in range(0, len(ids), 500):
            with self._reads() as session, session.begin():
                gone += janitor.unneeded(session, ids[start : start + 500], cutoff)
        return janitor.remove_unneeded(self.workdir, gone)

    def load(self, job_id: int) -> Job:
        with self._reads() as session, session.begin():
            job = load_jobs(session, [job_id]).get(job_id)
        if job is None:
            raise LookupError(f"job {job_id} disappeared")
        return job

    def describe(self, job_id: int, description: str | None) -> None:
        """Say what a pending job of ours waits for (None: nothing any more)."""
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.state == "pending", Job.owner == self.owner)
            .values(description=description)
        )
        with write_lock(self.engine), self._sessions() as session, session.begin():
            session.execute(stmt)

    def finish(
        self, r: Running, outcome: Outcome, url: str | None, cases: Sequence[CaseOutcome] = ()
    ) -> bool:
        """Record the final state and, with it, the run's test outcomes (`db/testresults.py`);
        a failure to record those is logged and never holds up the state."""
        with write_lock(self.engine), self._sessions() as session, session.begin():
            final = finish(
                session,
                r.id,
                owner=self.owner,
                build_id=r.claimed.build_id,
                state=outcome.state,
                description=outcome.description,
                url=url,
            )
            if final:
                try:
                    with session.begin_nested():
                        record_run(session, r.id, cases)
                except Exception:
                    log.exception("job %d: could not record its test results", r.id)
            return final
