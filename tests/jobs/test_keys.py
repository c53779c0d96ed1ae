"""Dedupe keys fit the column whatever the job name, and stay distinct."""

from __future__ import annotations

from foredeck.jobs import MAX_KEY, dedupe_key, periodic_key


def test_short_keys_name_the_delivery_and_job() -> None:
    assert dedupe_key("d-1", "unit") == "d-1:unit"
    assert periodic_key("nightly", "first") == "periodic:nightly:first"


def test_a_long_job_name_is_hashed_so_the_key_fits() -> None:
    long_a, long_b = "a" * 300, "b" * 300
    key = dedupe_key("d-1", long_a)
    assert len(key) <= MAX_KEY and key.startswith("d-1:")
    assert key == dedupe_key("d-1", long_a) != dedupe_key("d-1", long_b)
    slot = "2026-01-01T11:00:00Z"
    periodic = periodic_key(long_a, slot)
    assert len(periodic) <= MAX_KEY and periodic.startswith("periodic:")
    assert periodic.endswith(f":{slot}") and periodic != periodic_key(long_b, slot)
