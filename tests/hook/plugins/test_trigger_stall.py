"""While GitHub stalls, the hook still answers: the trigger plugin talks to GitHub outside the
event's write transaction, so SQLite's write lock (shared with the hook) is never held across
a network call.

A real server process runs the trigger plugin; GitHub (the double) is made to hang while the
worker is inside a pull request event. New deliveries must still get their 2xx within a second
each, and once GitHub answers again every event is handled and every job created.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from foredeck.db import Event, Job, read_only, session_factory
from tests.db.fixtures import Database
from tests.hook.plugins.stalling import StallingGitHub, author_of, opened, trigger_server
from tests.kit.webhooks import send_all

PRS = 12
ANSWER_WITHIN = 1.0


def counts(db: Database) -> tuple[int, int, int]:
    """(events, unprocessed events, jobs)."""
    with session_factory(read_only(db.engine))() as s:
        events = s.execute(select(func.count()).select_from(Event)).scalar_one()
        unprocessed = s.execute(
            select(func.count()).select_from(Event).where(Event.processed_at.is_(None))
        ).scalar_one()
        jobs = s.execute(select(func.count()).select_from(Job)).scalar_one()
    return int(events), int(unprocessed), int(jobs)


@pytest.mark.timeout(90)
async def test_hook_answers_while_github_stalls(
    db: Database,
    stalling_github: StallingGitHub,
    tmp_path: Path,
) -> None:
    gh = stalling_github
    server = trigger_server(gh, db, tmp_path, PRS)
    server.start()
    try:
        gh.stalled.set()
        first = await send_all(server.url, [opened(1)], concurrency=1)
        assert first[0].status == 202
        # Give the worker time to pick up event 1 and hang on GitHub.
        await asyncio.sleep(0.3)
        assert counts(db)[1] == 1, "event 1 must still be in the worker"

        for n in range(2, PRS + 1):
            t0 = time.monotonic()
            outcome = (await send_all(server.url, [opened(n)], concurrency=1))[0]
            took = time.monotonic() - t0
            assert outcome.status == 202, server.log()
            assert took < ANSWER_WITHIN, f"delivery {n} took {took:.2f}s while GitHub stalled"
        events, unprocessed, jobs = counts(db)
        assert (events, jobs) == (PRS, 0)
        assert unprocessed == PRS  # logged durably, none handled: GitHub is still down

        gh.stalled.clear()
        deadline = time.monotonic() + 30
        while counts(db)[1] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        server.stop(grace=20)
    events, unprocessed, jobs = counts(db)
    assert unprocessed == 0
    with session_factory(read_only(db.engine))() as s:
        made = sorted((j.pull_number, j.name) for j in s.execute(select(Job)).scalars())
        errors = [e.last_error for e in s.execute(select(Event)).scalars() if e.last_error]
    trusted = [n for n in range(1, PRS + 1) if author_of(n) == "alice"]
    assert len(trusted) < PRS  # an untrusted pull request is among them: it runs nothing
    expected = sorted((n, name) for n in trusted for name in ("lint", "unit"))
    assert made == expected, errors  # unit and lint on every trusted pull request, once
