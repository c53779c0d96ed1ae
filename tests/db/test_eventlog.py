from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from foredeck.db import Event, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.eventlog import (
    NewEvent,
    claim_next,
    failed_events,
    get_event,
    load_payload,
    log_events,
    pending_count,
    requeue,
    retry_delay,
)
from foredeck.db.types import compress_payload, decompress_payload
from tests.db.fixtures import Database, open_database

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def new(delivery: str, event: str = "push") -> NewEvent:
    return NewEvent(delivery, event, None, "acme", "widget", b'{"zen": "x"}')


def test_log_events_reports_duplicates_across_and_within_batches(db: Database) -> None:
    sessions = session_factory(db.engine)
    with sessions.begin() as s:
        first = log_events(s, [new("a"), new("b"), new("a")], now=T0)
    assert [r.duplicate for r in first] == [False, False, True]
    assert first[2].id == first[0].id
    with sessions.begin() as s:
        again = log_events(s, [new("b"), new("c")])
    assert (again[0].id, again[0].duplicate) == (first[1].id, True)
    assert not again[1].duplicate
    with sessions() as s:
        row = get_event(s, "a")
        assert row is not None
        assert (row.event, row.org, row.repo, row.payload) == (
            "push",
            "acme",
            "widget",
            b'{"zen": "x"}',
        )
        assert row.received_at == T0
        assert (row.processed_at, row.attempts, row.plugins_done) == (None, 0, [])
        assert pending_count(s, max_attempts=5) == 3


def test_claim_next_respects_order_backoff_and_attempts(db: Database) -> None:
    sessions = session_factory(db.engine)
    with sessions.begin() as s:
        ids = [r.id for r in log_events(s, [new("a"), new("b"), new("c")])]
    with sessions.begin() as s:
        a, b, c = (s.get(Event, i) for i in ids)
        assert a is not None and b is not None and c is not None
        a.not_before = T0 + timedelta(hours=1)
        b.attempts = 3
    with sessions.begin() as s:
        claimed = claim_next(s, max_attempts=3, now=T0)
        assert claimed is not None and claimed.delivery_id == "c"
        claimed.processed_at = T0
    with sessions.begin() as s:
        assert claim_next(s, max_attempts=3, now=T0) is None
        later = claim_next(s, max_attempts=3, now=T0 + timedelta(hours=2))
        assert later is not None and later.delivery_id == "a"
    with sessions.begin() as s:
        assert [e.delivery_id for e in failed_events(s, max_attempts=3)] == ["b"]
        assert requeue(s, ids[1])
        assert not requeue(s, ids[2])  # already processed
    with sessions.begin() as s:
        assert failed_events(s, max_attempts=3) == []
        again = claim_next(s, max_attempts=3, now=T0)
        assert again is not None and again.delivery_id == "b"


def test_skip_locked_hands_different_events_to_concurrent_workers(pg_db: Database) -> None:
    sessions = session_factory(pg_db.engine)
    with sessions.begin() as s:
        log_events(s, [new("a"), new("b")])
    with sessions.begin() as first, sessions.begin() as second:
        one = claim_next(first, max_attempts=5)
        two = claim_next(second, max_attempts=5)
        three = claim_next(second, max_attempts=5)
        assert one is not None and two is not None
        assert (one.delivery_id, two.delivery_id) == ("a", "b")
        assert three is not None and three.delivery_id == "b"  # its own lock, never "a"


def test_retry_delay_doubles_and_is_capped() -> None:
    assert retry_delay(1, 5.0) == timedelta(seconds=5)
    assert retry_delay(2, 5.0) == timedelta(seconds=10)
    assert retry_delay(4, 5.0) == timedelta(seconds=40)
    assert retry_delay(30, 5.0) == timedelta(minutes=10)


def _snapshot(db: Database) -> list[tuple[object, ...]]:
    with session_factory(db.engine)() as s:
        return [
            (
                e.id,
                e.delivery_id,
                e.event,
                e.action,
                e.org,
                e.repo,
                e.received_at,
                e.processed_at,
                e.attempts,
                e.plugins_done,
                e.not_before,
                e.payload,
            )
            for e in s.query(Event).order_by(Event.id)
        ]


def test_driver_fast_path_writes_what_the_portable_path_writes(
    sqlite_db: Database, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The hook logs through a Connection (SQLite: straight through the driver); sessions take
    the portable path. Both must store the same rows, duplicates reported alike."""
    other = tmp_path / "portable"
    other.mkdir()
    db = open_database("sqlite", request, other)
    at = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    batches = [
        [new("a"), new("b", "pull_request"), new("a")],
        [new("b"), new("c", "issue_comment")],
    ]
    fast: list[list[tuple[int, bool]]] = []
    for batch in batches:
        with sqlite_db.engine.begin() as conn:  # a Connection: the fast path on SQLite
            fast.append([(r.id, r.duplicate) for r in log_events(conn, batch, now=at)])
    portable: list[list[tuple[int, bool]]] = []
    for batch in batches:
        with session_factory(db.engine).begin() as s:  # a Session: the portable path
            portable.append([(r.id, r.duplicate) for r in log_events(s, batch, now=at)])
    assert fast == portable
    assert [d for _, d in fast[0]] == [False, False, True]
    assert _snapshot(sqlite_db) == _snapshot(db)
    assert _snapshot(sqlite_db)[0][6] == at  # microseconds and zone survive the round trip
    db.engine.dispose()


def _stored_bodies(db: Database) -> dict[int, bytes]:
    """The payload column as the database holds it (no type processing)."""
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT event_id, body FROM event_payloads ORDER BY event_id"))
        return {int(i): bytes(b) for i, b in rows}


@pytest.mark.parametrize("path", ["connection", "session"])
def test_payloads_are_stored_compressed_and_read_back_exactly(db: Database, path: str) -> None:
    body = (Path(__file__).parents[1] / "data/webhooks/pull_request.opened.json").read_bytes()
    item = NewEvent("big", "pull_request", "opened", "acme", "widget", body)
    if path == "connection":  # the hook's path (SQLite: straight through the driver)
        with write_lock(db.engine), db.engine.begin() as conn:
            (logged,) = log_events(conn, [item])
    else:
        with session_factory(db.engine).begin() as s:
            (logged,) = log_events(s, [item])
    stored = _stored_bodies(db)[logged.id]
    assert stored != body and len(stored) < len(body) // 4, len(stored)
    assert decompress_payload(stored) == body
    with db.engine.connect() as conn:
        assert load_payload(conn, logged.id) == body
    with session_factory(db.engine)() as s:
        row = get_event(s, "big")
        assert row is not None and row.payload == body


def test_payloads_logged_before_compression_still_read_back(db: Database) -> None:
    """Rows written uncompressed (before zstd) are JSON, which never starts with zstd's magic."""
    with session_factory(db.engine).begin() as s:
        (logged,) = log_events(s, [new("old")])
    with write_lock(db.engine), db.engine.begin() as conn:
        conn.execute(
            text("UPDATE event_payloads SET body = :b WHERE event_id = :i"),
            {"b": b'  {"zen": "plain"}', "i": logged.id},
        )
    assert _stored_bodies(db)[logged.id] == b'  {"zen": "plain"}'
    with db.engine.connect() as conn:
        assert load_payload(conn, logged.id) == b'  {"zen": "plain"}'
    assert decompress_payload(compress_payload(b"")) == b""
