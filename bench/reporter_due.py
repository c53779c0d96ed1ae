"""The reporter's "due" query on a large job table, against the job list's first page.

The reporter polls every second for jobs whose `state` differs from `reported_state`. Without an
index for that condition the query walks the primary key from `after_id` until it has found
`limit` due jobs: on a table where nearly everything is reported, that is the whole table on
every poll. Fills N jobs as `bench/dashboard.py` does (all finished ones reported, the newest
~200 not), then times `ReportStore.due(0, 100)` and, as the baseline in the same process, the
first page of the unfiltered job list (`db.jobs.list_jobs`, 100 rows). Prints both medians and
`ratio=<due/list>`. Not run in CI.

    .venv/bin/python bench/reporter_due.py [--jobs 1000000]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dashboard import fill_sqlite  # bench/ is on sys.path when run as a script
from foredeck.db import make_engine, migrate, session_factory
from foredeck.db.engine import read_only
from foredeck.db.jobs import list_jobs
from foredeck.report.queries import ReportStore


def median_ms(fn: Callable[[], object], runs: int = 30) -> float:
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "jobs.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        engine.dispose()
        started = time.perf_counter()
        fill_sqlite(path, args.jobs)
        conn = sqlite3.connect(path)
        conn.execute(
            "UPDATE jobs SET reported_state = state WHERE state NOT IN ('triggered', 'pending')"
        )
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
        print(f"{args.jobs} jobs filled in {time.perf_counter() - started:.0f} s")
        engine = make_engine(f"sqlite:///{path}")
        store = ReportStore(engine)
        due = store.due(0, 100)
        sessions = session_factory(read_only(engine))

        def first_page() -> object:
            with sessions() as session:
                return list_jobs(session, limit=100)

        due_ms = median_ms(lambda: store.due(0, 100))
        list_ms = median_ms(first_page)
        print(f"due(0, 100): {len(due)} jobs, median {due_ms:.2f} ms")
        print(f"job list first page: median {list_ms:.2f} ms")
        print(f"ratio={due_ms / list_ms:.2f}")
        engine.dispose()


if __name__ == "__main__":
    main()
