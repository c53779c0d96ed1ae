from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from foredeck.storage.buildid import EPOCH_MS, MAX_SEQUENCE, BuildIdGenerator, build_id_time


class FakeClock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


NOW_MS = 1_760_000_000_000  # 2025-10-09


def test_ids_are_19_digits_and_decode_to_their_time() -> None:
    gen = BuildIdGenerator(node=3, clock_ms=FakeClock(NOW_MS))
    build_id = gen.next()
    assert len(build_id) == 19 and build_id.isdigit()
    assert build_id_time(build_id) == datetime.fromtimestamp(NOW_MS / 1000, tz=UTC)
    assert (int(build_id) >> 12) & 0x3FF == 3


def test_strictly_increasing_within_a_millisecond_and_when_clock_steps_back() -> None:
    clock = FakeClock(NOW_MS)
    gen = BuildIdGenerator(clock_ms=clock)
    ids = [gen.next_int() for _ in range(MAX_SEQUENCE + 10)]  # overflows one millisecond
    clock.ms -= 5_000  # NTP steps the clock back
    ids += [gen.next_int() for _ in range(10)]
    clock.ms += 60_000
    ids.append(gen.next_int())
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # As strings they sort the same way (same width), which directory listings rely on.
    assert sorted(str(i) for i in ids) == [str(i) for i in ids]
    assert build_id_time(ids[-1]).timestamp() * 1000 == NOW_MS + 55_000


def test_thread_safe_and_unique() -> None:
    gen = BuildIdGenerator(clock_ms=FakeClock(NOW_MS))
    results: list[list[int]] = [[] for _ in range(4)]

    def take(bucket: list[int]) -> None:
        bucket.extend(gen.next_int() for _ in range(2000))

    threads = [threading.Thread(target=take, args=(b,)) for b in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for bucket in results for i in bucket]
    assert len(set(everything)) == 8000
    assert all(bucket == sorted(bucket) for bucket in results)


def test_default_clock_gives_now() -> None:
    before = datetime.now(tz=UTC)
    got = build_id_time(BuildIdGenerator().next())
    assert abs((got - before).total_seconds()) < 5


def test_invalid_input() -> None:
    with pytest.raises(ValueError, match="node"):
        BuildIdGenerator(node=1024)
    with pytest.raises(ValueError, match="before the id epoch"):
        BuildIdGenerator(clock_ms=FakeClock(EPOCH_MS - 1)).next()
    with pytest.raises(ValueError):
        build_id_time("not-a-number")


def test_two_controllers_never_give_two_jobs_one_id() -> None:
    """Controllers with the same node (their names' hashes collided) starting jobs in the same
    millisecond: each job's id holds its own database id, so no two runs share an id (and so
    an artifact path)."""
    clock = FakeClock(NOW_MS)
    one, two = BuildIdGenerator(node=7, clock_ms=clock), BuildIdGenerator(node=7, clock_ms=clock)
    ids = [one.for_job(job) for job in (1, 2, 3)] + [two.for_job(job) for job in (4, 5, 6)]
    assert len(set(ids)) == 6
    assert {build_id_time(i) for i in ids} == {datetime.fromtimestamp(NOW_MS / 1000, tz=UTC)}
    assert one.for_job(2**22 + 9) != two.for_job(10)
    assert two.next() == one.next()  # what the controllers used before: the same id twice


def test_a_jobs_id_never_goes_below_the_generators_last_millisecond() -> None:
    clock = FakeClock(NOW_MS)
    gen = BuildIdGenerator(clock_ms=clock)
    first = int(gen.for_job(5))
    clock.ms -= 10_000  # the wall clock steps back
    assert int(gen.for_job(6)) > first
    assert build_id_time(gen.for_job(7)) == datetime.fromtimestamp(NOW_MS / 1000, tz=UTC)
