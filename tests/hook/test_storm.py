"""2,000 concurrent deliveries against a real server process: each good one logged exactly once."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from foredeck.db import Event, session_factory
from tests.db.fixtures import Database
from tests.hook.recorder import handled_counts
from tests.hook.storm import build_storm
from tests.kit.server import ServerProcess
from tests.kit.webhooks import Outcome, hook_server, send_all


@pytest.fixture
def server(sqlite_db: Database, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = hook_server(tmp_path, sqlite_db.url)
    srv.start()
    yield srv
    srv.stop(grace=20)


def logged(db: Database) -> dict[str, Event]:
    with session_factory(db.engine)() as s:
        return {e.delivery_id: e for e in s.execute(select(Event)).scalars()}


def wait_processed(db: Database, timeout: float = 30.0) -> dict[str, Event]:
    deadline = time.monotonic() + timeout
    while True:
        events = logged(db)
        if all(e.processed_at is not None for e in events.values()):
            return events
        if time.monotonic() > deadline:
            pending = sum(e.processed_at is None for e in events.values())
            raise AssertionError(f"{pending} events still unprocessed after {timeout}s")
        time.sleep(0.1)


def check_answers(outcomes: list[Outcome]) -> dict[str, list[Outcome]]:
    by_id: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_id[o.delivery.delivery_id].append(o)
    for did, answers in by_id.items():
        if not answers[0].delivery.good:
            assert [a.status for a in answers] == [403], did
            continue
        statuses = Counter(a.status for a in answers if a.status is not None)
        if statuses:
            assert statuses[202] <= 1, (did, statuses)
            ids = {a.body["id"] for a in answers if a.body is not None}
            assert len(ids) == 1, (did, ids)  # duplicates answer with the original's id
    return by_id


async def test_storm(server: ServerProcess, sqlite_db: Database) -> None:
    storm = build_storm(2000)
    started = time.monotonic()
    outcomes = await send_all(server.url, storm, concurrency=32)
    elapsed = time.monotonic() - started
    by_id = check_answers(outcomes)
    assert all(o.status is not None for o in outcomes), server.log()
    good_ids = {d.delivery_id for d in storm if d.good}
    bad_ids = {d.delivery_id for d in storm if not d.good}
    assert len(bad_ids) == 100 and len(good_ids) == 2000 - 200 - 100
    for did in good_ids:
        statuses = Counter(o.status for o in by_id[did])
        assert statuses[202] == 1 and set(statuses) <= {200, 202}, (did, statuses)
    events = wait_processed(sqlite_db)
    assert set(events) == good_ids  # every good delivery exactly once, nothing else
    assert handled_counts(sqlite_db.engine) == dict.fromkeys(good_ids, 1)
    print(f"storm: {len(storm)} deliveries in {elapsed:.1f}s ({len(storm) / elapsed:.0f}/s)")
