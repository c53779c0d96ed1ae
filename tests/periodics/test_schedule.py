"""Schedules and decisions, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from foredeck.config import Periodic
from foredeck.periodics import (
    CronSchedule,
    Decision,
    IntervalSchedule,
    LastRun,
    ScheduleError,
    decide,
    parse_schedule,
)


def at(hour: int, minute: int = 0, second: int = 0, day: int = 1, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def cron(expr: str) -> CronSchedule:
    schedule = parse_schedule(Periodic(name="p", cron=expr))
    assert isinstance(schedule, CronSchedule)
    return schedule


def finished(created: datetime, done: datetime) -> LastRun:
    return LastRun(1, "success", created, done)


def test_parse_kinds() -> None:
    assert cron("0 * * * *").expr == "0 * * * *"
    assert cron("0 0 * * ?").expr == "0 0 * * *"  # robfig's `?` is `*`
    every = parse_schedule(Periodic(name="p", cron="@every 90m"))
    assert every == IntervalSchedule(5400.0, "@every 90m", "interval")
    assert parse_schedule(Periodic(name="p", interval="2h")) == IntervalSchedule(
        7200.0, "2h", "interval"
    )
    assert parse_schedule(Periodic(name="p", minimum_interval="1m30s")) == IntervalSchedule(
        90.0, "1m30s", "minimum_interval"
    )


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (Periodic(name="p", cron="61 * * * *"), "invalid cron"),
        (Periodic(name="p", cron="TZ=Nowhere/Atlantis 0 * * * *"), "time zone"),
        (Periodic(name="p", interval="soon"), "p:"),
        (Periodic(name="p"), "no cron, interval or minimum_interval"),
    ],
)
def test_parse_errors(job: Periodic, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(job)


def test_cron_slots() -> None:
    hourly = cron("0 * * * *")
    assert hourly.next_after(at(10)) == at(11)
    assert hourly.next_after(at(10, 59, 59)) == at(11)
    assert hourly.latest_at_or_before(at(11)) == at(11)  # exactly on a slot
    assert hourly.latest_at_or_before(at(11, 0, 1)) == at(11)
    assert hourly.latest_at_or_before(at(10, 59, 59)) == at(10)
    assert hourly.next_after(at(10) + timedelta(microseconds=500)) == at(11)


def test_cron_descriptor_and_seconds_field() -> None:
    assert cron("@daily").next_after(at(10)) == at(0, day=2)
    every_30s = cron("30 * * * * *")  # six fields: the first is seconds, as in robfig/cron
    assert every_30s.seconds
    assert every_30s.next_after(at(10)) == at(10, 0, 30)
    assert every_30s.next_after(at(10, 0, 30)) == at(10, 1, 30)


def test_cron_time_zone_prefix_follows_daylight_saving() -> None:
    nine_berlin = cron("TZ=Europe/Berlin 0 9 * * *")
    assert nine_berlin.next_after(at(0)) == at(8)  # CET = UTC+1
    assert nine_berlin.next_after(at(0, month=7)) == at(7, month=7)  # CEST = UTC+2


def test_cron_never_ran_waits_for_the_first_slot_after_it_was_seen() -> None:
    hourly = cron("0 * * * *")
    seen = at(10, 0, 30)
    assert decide(hourly, None, at(10, 59, 59), seen_since=seen) is None
    decision = decide(hourly, None, at(11), seen_since=seen)
    assert decision == Decision(at(11), "cron 0 * * * *: scheduled 2026-01-01T11:00:00Z")
    assert decision.dedupe_key("nightly") == "periodic:nightly:2026-01-01T11:00:00Z"


def test_cron_never_overlaps_and_fires_once_for_missed_slots() -> None:
    hourly = cron("0 * * * *")
    running = LastRun(1, "pending", at(11), None)
    assert decide(hourly, running, at(14, 30), seen_since=at(9)) is None
    done = finished(at(11), at(14, 30))
    decision = decide(hourly, done, at(14, 30, 1), seen_since=at(9))
    assert decision is not None and decision.scheduled == at(14)  # the latest missed slot only


def test_cron_counts_slots_from_the_previous_run() -> None:
    hourly = cron("0 * * * *")
    # A late (catch-up) run at 14:20 for the 14:00 slot: the next one is 15:00.
    done = finished(at(14, 20), at(14, 25))
    assert decide(hourly, done, at(14, 59, 59), seen_since=at(9)) is None
    assert decide(hourly, done, at(15), seen_since=at(9)) is not None


def test_cron_change_ignores_slots_before_the_change() -> None:
    daily = cron("0 6 * * *")
    done = finished(at(1), at(1, 5))
    # The new schedule had a slot at 06:00, before the change was seen at 07:00.
    assert decide(daily, done, at(7, 0, 1), seen_since=at(0), changed_at=at(7)) is None
    assert decide(daily, done, at(7, 0, 1), seen_since=at(0)) is not None
    assert decide(daily, done, at(6, day=2), seen_since=at(0), changed_at=at(7)) is not None


def test_interval_first_run_at_once_then_from_the_previous_start() -> None:
    every_2h = IntervalSchedule(7200.0, "2h", "interval")
    first = decide(every_2h, None, at(10), seen_since=at(10))
    assert first == Decision(None, "interval 2h: first run")
    assert first.dedupe_key("p") == "periodic:p:first"
    done = finished(at(10, 0, 0), at(11, 30))
    assert decide(every_2h, done, at(11, 59, 59), seen_since=at(10)) is None
    decision = decide(every_2h, done, at(12, 0, 5), seen_since=at(10))
    assert decision is not None and decision.scheduled == at(12)
    assert decision.reason == "interval 2h: scheduled 2026-01-01T12:00:00Z"
    assert (
        decide(every_2h, LastRun(1, "triggered", at(10), None), at(15), seen_since=at(10)) is None
    )


def test_minimum_interval_counts_from_the_finish() -> None:
    hour = IntervalSchedule(3600.0, "1h", "minimum_interval")
    done = finished(at(10), at(10, 50))
    assert decide(hour, done, at(11, 49, 59), seen_since=at(10)) is None
    decision = decide(hour, done, at(11, 50), seen_since=at(10))
    assert decision is not None and decision.scheduled == at(11, 50)
    assert decision.reason.startswith("minimum_interval 1h: scheduled 2026-01-01T11:50:00Z")


def test_long_names_get_a_hashed_key_within_the_column() -> None:
    key = Decision(at(11), "r").dedupe_key("x" * 255)
    assert len(key) <= 255
    assert key.endswith(":2026-01-01T11:00:00Z")
    assert key != Decision(at(11), "r").dedupe_key("y" * 255)
