"""SIGKILL the server in the middle of a storm, restart it on the same database, finish.

Every delivery that got a 2xx must be in the log exactly once and be handled exactly once: the
recorder plugin writes a row per handling in the event's transaction, so a lost event shows up
as a missing row and a double handling as two rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from foredeck.db import Event, session_factory
from foredeck.db.engine import read_only
from tests.db.fixtures import Database
from tests.hook.recorder import create_table, handled_counts
from tests.hook.storm import build_storm
from tests.kit.server import ServerProcess
from tests.kit.webhooks import hook_server, send_all

HANDLE_DELAY = 0.01  # a plugin that takes 10 ms: the worker (<= 100/s) falls behind the storm
KILL_AFTER_LOGGED = 200
KILL_WHEN_PENDING = 30


@pytest.fixture
def server(db: Database, tmp_path: Path) -> Iterator[ServerProcess]:
    create_table(db.engine)
    srv = hook_server(tmp_path, db.url, plugin_config={"recorder": {"delay": HANDLE_DELAY}})
    yield srv
    srv.stop(grace=20)


def counts(db: Database) -> tuple[int, int]:
    """(logged events, of which unprocessed).

    Read with a deferred transaction: the default `BEGIN IMMEDIATE` would take SQLite's write
    lock from the server under test, every 10 ms, and slow the storm down to a crawl.
    """
    with session_factory(read_only(db.engine))() as s:
        total = s.execute(select(func.count()).select_from(Event)).scalar_one()
        pending = s.execute(
            select(func.count()).select_from(Event).where(Event.processed_at.is_(None))
        ).scalar_one()
    return int(total), int(pending)


async def test_sigkill_mid_storm_loses_and_duplicates_nothing(
    server: ServerProcess, db: Database
) -> None:
    storm = build_storm(900, seed=11)
    server.start()
    sending = asyncio.create_task(send_all(server.url, storm, concurrency=16))
    deadline = time.monotonic() + 30
    # Kill only once the log holds both handled and unhandled events, however fast this machine
    # happens to be: the interesting case is a restart with work left over.
    while time.monotonic() < deadline and not sending.done():
        logged, pending = counts(db)
        if logged >= KILL_AFTER_LOGGED and pending >= KILL_WHEN_PENDING:
            break
        await asyncio.sleep(0.01)
    await asyncio.to_thread(server.kill)
    first = await sending

    answered = [o for o in first if o.status is not None]
    lost_in_flight = [o.delivery for o in first if o.status is None]
    assert answered and lost_in_flight, "the kill should fall in the middle of the storm"
    assert all(o.status == 403 for o in answered if not o.delivery.good)
    acked = {o.delivery.delivery_id for o in answered if o.status in (200, 202)}
    logged, pending = counts(db)
    assert logged >= len(acked)
    assert pending > 0, "the kill should leave logged, unhandled events for the restart"

    # Restart on the same database; GitHub's "Redeliver" for everything that got no answer.
    server.start()
    second = await send_all(server.url, lost_in_flight, concurrency=16)
    assert all(o.status is not None for o in second), server.log()
    assert all(o.status == 403 for o in second if not o.delivery.good)
    acked |= {o.delivery.delivery_id for o in second if o.status in (200, 202)}

    deadline = time.monotonic() + 60
    while counts(db)[1] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    with session_factory(db.engine)() as s:
        events = {e.delivery_id: e for e in s.execute(select(Event)).scalars()}
    good = {d.delivery_id for d in storm if d.good}
    assert acked == good  # every good delivery was acknowledged in the end
    assert set(events) == good  # ...and is logged exactly once (nothing else is)
    assert all(e.processed_at is not None for e in events.values())
    handled = handled_counts(db.engine)
    assert {d for d, n in handled.items() if n > 1} == set()  # nothing handled twice
    assert set(handled) == good  # nothing lost
