"""Lease holders for the chaos and contention tests, run as a child process:

    LEASE_SETTINGS=JSON python -m tests.leases.holder URL TYPE OWNER JOBS COUNT TTL HOLD DIRTY

`JOBS` threads each acquire `COUNT` leases one after another (waiting as long as it takes),
hold each up to `HOLD` seconds while heartbeating, and release it (dirty with probability
`DIRTY`). One JSON line per lease on
stdout: `{"lease": ..., "name": ..., "asked": t0, "got": t1}` (wall-clock seconds).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time

from foredeck.db import make_engine
from foredeck.leases import LeaseLost, LeaseService
from foredeck.settings import LeaseSettings

_out = threading.Lock()


def job(
    service: LeaseService, type_: str, owner: str, count: int, ttl: float, hold: float, dirty: float
) -> None:
    for _ in range(count):
        asked = time.time()
        lease = service.acquire(type_, owner, ttl, wait=600)
        got = time.time()
        with _out:
            line = {"lease": lease.id, "name": lease.name, "asked": asked, "got": got}
            print(json.dumps(line), flush=True)
        end = time.monotonic() + random.uniform(0, hold)
        try:
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(ttl / 3, left))
                service.heartbeat(lease)
        except LeaseLost:
            continue  # a busy machine overslept the TTL: the reaper has the resource back
        service.release(lease, dirty=random.random() < dirty)


def main(argv: list[str]) -> None:
    url, type_, owner, jobs, count, ttl, hold, dirty = argv
    settings = LeaseSettings.model_validate_json(os.environ["LEASE_SETTINGS"])  # has secrets
    service = LeaseService(make_engine(url), settings)
    threads = [
        threading.Thread(
            target=job,
            args=(
                service,
                type_,
                f"{owner}-{n}",
                int(count),
                float(ttl),
                float(hold),
                float(dirty),
            ),
        )
        for n in range(int(jobs))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main(sys.argv[1:])
