"""A real server with the trigger plugin, SIGKILLed in the middle of a storm of pull requests.

The server process talks to the GitHub double in this process. To make the kill land inside
an event, GitHub is first made to stall (every request waits), so the worker is stuck halfway
through a pull request, holding it unprocessed, while deliveries keep arriving; then the server
is killed, GitHub recovers, and a new server finishes the work.

Every delivery the server answered must end with its jobs created exactly once; a delivery that
got no answer (in flight at the kill, or never sent) must have produced all of its jobs or none.
Untrusted pull requests end with exactly one welcome comment, never two.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from foredeck.db import Event, Job, read_only, session_factory
from tests.db.fixtures import Database
from tests.hook.plugins.stalling import StallingGitHub, author_of, opened, trigger_server
from tests.hook.plugins.trigger_env import BOT, ORG, REPO
from tests.kit.wait import eventually
from tests.kit.webhooks import Delivery, Outcome, send_all

EXPECTED = ["lint", "unit"]
PRS = 150


def count(db: Database, what: type[Job] | type[Event], unprocessed: bool = False) -> int:
    stmt = select(func.count()).select_from(what)
    if unprocessed:
        stmt = stmt.where(Event.processed_at.is_(None))
    with session_factory(read_only(db.engine))() as s:
        return int(s.execute(stmt).scalar_one())


def jobs_by_pull(db: Database) -> dict[int, list[Job]]:
    found: dict[int, list[Job]] = defaultdict(list)
    with session_factory(read_only(db.engine))() as s:
        for job in s.execute(select(Job)).scalars():
            assert job.pull_number is not None
            found[job.pull_number].append(job)
    return found


def wait_processed(db: Database, timeout: float) -> dict[str, Event]:
    deadline = time.monotonic() + timeout
    while True:
        with session_factory(read_only(db.engine))() as s:
            events = {e.delivery_id: e for e in s.execute(select(Event)).scalars()}
        if all(e.processed_at is not None for e in events.values()):
            return events
        if time.monotonic() > deadline:
            left = [(e.delivery_id, e.last_error) for e in events.values() if not e.processed_at]
            raise AssertionError(f"{len(left)} events unprocessed after {timeout}s: {left[:3]}")
        time.sleep(0.1)


async def paced(url: str, deliveries: list[Delivery], stop: asyncio.Event) -> list[Outcome]:
    """Send in small concurrent groups with pauses, so that the storm outlasts the kill;
    once `stop` is set the rest is not sent (no answer)."""
    outcomes: list[Outcome] = []
    for i in range(0, len(deliveries), 4):
        outcomes += await send_all(url, deliveries[i : i + 4], concurrency=4, stop_after=stop)
        await asyncio.sleep(0.01)
    return outcomes


@pytest.mark.timeout(90)
async def test_sigkill_mid_storm_creates_each_job_exactly_once(
    db: Database,
    stalling_github: StallingGitHub,
    tmp_path: Path,
) -> None:
    gh = stalling_github
    server = trigger_server(gh, db, tmp_path, PRS)
    rng = random.Random(3)
    originals = [opened(n) for n in range(1, PRS + 1)]
    first, second = originals[: PRS * 2 // 3], originals[PRS * 2 // 3 :]
    # GitHub redeliveries (the same delivery id again), mixed into the storm.
    first_storm = first + rng.sample(first, len(first) // 10)
    rng.shuffle(first_storm)

    started = time.monotonic()
    server.start()
    try:
        stop = asyncio.Event()
        storm = asyncio.create_task(paced(server.url, first_storm, stop))
        await eventually(lambda: count(db, Job) >= 30, "the worker to be into the storm", 20, 0.005)
        gh.stalled.set()
        # The worker is now stuck in an event (unprocessed) and deliveries pile up or wait.
        await eventually(
            lambda: count(db, Event, True) >= 1, "an event stuck in the worker", 20, 0.005
        )
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.to_thread(server.kill)
        left = count(db, Event, True)
        outcomes = await storm
        gh.stalled.clear()
        answered_first = {o.delivery.delivery_id for o in outcomes if o.status is not None}
        unanswered = {d.delivery_id for d in first} - answered_first
        assert left >= 1 and unanswered, (left, len(unanswered))

        server.start()
        redelivered = sorted(unanswered)[::2]  # someone presses "Redeliver" for half of them
        by_id = {d.delivery_id: d for d in originals}
        second_storm = second + [by_id[d] for d in redelivered] + rng.sample(first, 10)
        rng.shuffle(second_storm)
        later = await send_all(server.url, second_storm, concurrency=8)
        assert all(o.status is not None for o in later), server.log()
        outcomes += later
        events = wait_processed(db, timeout=30)
    finally:
        server.stop(grace=20)
    elapsed = time.monotonic() - started

    statuses = Counter(o.status for o in outcomes)
    assert set(statuses) <= {200, 202, None}, statuses
    got_answer = {o.delivery.delivery_id for o in outcomes if o.status is not None}
    assert all(e.last_error is None for e in events.values())
    jobs = jobs_by_pull(db)
    for delivery in originals:
        number = json.loads(delivery.body)["number"]
        did = delivery.delivery_id
        mine = jobs.get(number, [])
        assert all(j.cause == did for j in mine), number
        names = sorted(j.name for j in mine)
        untrusted = author_of(number) == "mallory"
        welcomes = [c for c in gh.comments(ORG, REPO, number) if c.user == BOT]
        if did in got_answer:
            assert did in events, f"answered delivery {did} was not logged"
            assert names == ([] if untrusted else EXPECTED), (number, names)
            assert len(welcomes) == (1 if untrusted else 0), number
        else:
            assert names == [] or (names == EXPECTED and not untrusted), (number, names)
            assert len(welcomes) == (1 if untrusted and did in events else 0), number
    dedupe = Counter((j.pull_number, j.name) for js in jobs.values() for j in js)
    assert max(dedupe.values()) == 1
    print(
        f"\ncrash storm ({db.backend}): {len(outcomes)} deliveries, {len(got_answer)} answered, "
        f"{len(unanswered)} unanswered at the kill, {left} logged but unprocessed then, "
        f"{sum(map(len, jobs.values()))} jobs, {elapsed:.1f}s"
    )
