"""Two processes on PostgreSQL with 200 acquisitions for 5 resources: no resource ever has two
holders (from the recorded intervals), and no acquirer waits long while a resource is free."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise

import pytest

from foredeck.db import make_engine, migrate
from foredeck.leases import LeaseService, store
from foredeck.settings import LeaseSettings
from tests.child import ROOT, child_env
from tests.db.fixtures import create_schema, drop_schema, schema_url, url_string

SETTINGS = {"types": [{"name": "slot", "resources": ["r1", "r2", "r3", "r4", "r5"]}]}
# An acquirer polls (20 ms, backing off to 250 ms); on a loaded 2-core machine a process may
# also not be scheduled for a while. A waiter that saw a free resource for longer than this
# would be a bug (a lock waited on, a row skipped for good), not scheduling.
SLACK = 1.0
HOLDERS = ["10", "10", "30", "0.05", "0"]  # jobs, leases each, ttl, hold up to, dirty share


@pytest.fixture
def lease_db() -> Iterator[str]:
    schema = create_schema("fdc")
    url = url_string(schema_url(schema))
    migrate(url)
    try:
        yield url
    finally:
        drop_schema(schema)


def test_two_processes_never_share_a_resource_nor_wait_while_one_is_free(lease_db: str) -> None:
    engine = make_engine(lease_db)
    LeaseService(engine, LeaseSettings.model_validate(SETTINGS)).sync()
    env = child_env() | {"LEASE_SETTINGS": json.dumps(SETTINGS)}
    # 2 processes x 10 jobs (threads) x 10 leases = 200 acquisitions, each held up to 50 ms.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.leases.holder", lease_db, "slot", f"c{n}", *HOLDERS],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    lines = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0
        lines += [json.loads(line) for line in out.splitlines()]
    try:
        intervals = store.intervals(engine)
    finally:
        engine.dispose()
    assert len(lines) == len(intervals) == 200
    assert {i.owner.split("-")[0] for i in intervals} == {"c0", "c1"}
    by_resource: dict[str, list[tuple[datetime, datetime]]] = {}
    for i in intervals:
        assert i.released_at is not None and i.ended == "released"
        by_resource.setdefault(i.name, []).append((i.acquired_at, i.released_at))
    for name, spans in by_resource.items():
        spans.sort()
        for (_, end), (start, _) in pairwise(spans):
            assert start >= end, f"{name} had two holders at {start}"
    # No waiting while a resource is free: while an acquirer waited (asked..got), no resource
    # stayed free for longer than SLACK. A resource is free from one release to the next
    # acquisition of it.
    gaps = []
    for spans in by_resource.values():
        gaps += [(end.timestamp(), start.timestamp()) for (_, end), (start, _) in pairwise(spans)]
    worst = 0.0
    for line in lines:
        for free_from, free_to in gaps:
            worst = max(worst, min(free_to, line["got"]) - max(free_from, line["asked"]))
    print(f"longest wait while a resource was free: {worst * 1000:.0f} ms")
    assert worst < SLACK
