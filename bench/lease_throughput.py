"""Lease acquire+release on PostgreSQL with 10,000 resources, beside bare SKIP LOCKED updates.

Fills a schema of its own with N free resources of one type, then times `--rounds`
acquire+release pairs through `LeaseService` (each: one UPDATE ... FOR UPDATE SKIP LOCKED with
an interval INSERT, then one UPDATE with the interval's end; two transactions) from `--workers`
threads, and, as the baseline, the same loop of bare statements on one psycopg connection per
thread: `UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id` and
`UPDATE ... SET state = 'free'`, each in its own transaction. Prints p50/p99 per pair, pairs
per second and `ratio=<service p50 / bare p50>`. Not run in CI.

    nice -n -20 .venv/bin/python bench/lease_throughput.py [--url URL] [--resources 10000]
        [--rounds 4000] [--workers 4] [--no-pre-ping]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import insert, text

from foredeck.db import make_engine, migrate
from foredeck.db.models import LeaseResource
from foredeck.db.types import utcnow
from foredeck.leases import LeaseService
from foredeck.settings import LeaseSettings

DEFAULT_URL = os.environ.get("FOREDECK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TAKE = (
    "UPDATE lease_resources SET state = 'busy' WHERE id = (SELECT id FROM lease_resources "
    "WHERE type = 'bench' AND state = 'free' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "RETURNING id"
)
GIVE = "UPDATE lease_resources SET state = 'free' WHERE id = %s"


def run(
    workers: int, rounds: int, pair: Callable[[], Callable[[], None]]
) -> tuple[list[float], float]:
    """Per-pair seconds and wall time of `rounds` pairs split over `workers` threads; `pair()`
    makes one thread's loop body (its own connection)."""
    samples: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        body = pair()
        mine = []
        for _ in range(rounds // workers):
            start = time.perf_counter()
            body()
            mine.append(time.perf_counter() - start)
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples, time.perf_counter() - started


def report(name: str, samples: list[float], wall: float) -> float:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(f"{name:<8} p50={p50:.2f} ms p99={p99:.2f} ms  {len(samples) / wall:,.0f} pairs/s")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--no-pre-ping", action="store_true", help="without foredeck's per-checkout ping"
    )
    args = parser.parse_args()
    schema = f"bench_{secrets.token_hex(4)}"
    admin = make_engine(args.url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        engine = make_engine(url, pool_size=args.workers + 2, pool_pre_ping=not args.no_pre_ping)
        migrate(engine)
        now = utcnow()
        rows = [
            {
                "type": "bench",
                "name": f"r{n}",
                "state": "free",
                "user_data": {},
                "created_at": now,
                "updated_at": now,
            }
            for n in range(args.resources)
        ]
        with engine.begin() as conn:
            conn.execute(insert(LeaseResource), rows)
            conn.execute(text("ANALYZE lease_resources"))
        service = LeaseService(engine, LeaseSettings.model_validate({"types": [{"name": "bench"}]}))

        def service_pair() -> Callable[[], None]:
            def body() -> None:
                service.release(service.acquire("bench", "bench", ttl=60), dirty=False)

            return body

        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)

        def bare_pair() -> Callable[[], None]:
            conn = psycopg.connect(conninfo, autocommit=True)

            def body() -> None:
                row = conn.execute(TAKE).fetchone()
                assert row is not None
                conn.execute(GIVE, (row[0],))

            return body

        print(f"{args.resources} resources, {args.rounds} pairs, {args.workers} threads")
        run(args.workers, min(200, args.rounds), service_pair)  # warm up
        run(args.workers, min(200, args.rounds), bare_pair)
        service_p50 = report("service", *run(args.workers, args.rounds, service_pair))
        bare_p50 = report("bare", *run(args.workers, args.rounds, bare_pair))
        print(f"ratio={service_p50 / bare_p50:.2f}")
        engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
