"""Dashboard at scale: a 1 GB build log on the run page.

Target: first page of a 1 GB log served in < 300 ms, server RSS growth < 100 MB.
The run page shows the log's last 256 KB and pages by byte offset, so neither figure should
depend on the log's size. Baseline in the same run: the same page for a 1 KB log, so the ratio
shows what the size costs. Requests go through the app in-process (no sockets).

Run: .venv/bin/python bench/dashboard_log.py [--gib 1]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from foredeck.db import make_engine, migrate, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, create_job, set_state
from foredeck.serve.app import create_service_app
from foredeck.settings import Settings

LINE = b"2024-01-01T00:00:00.000Z [big/run] \x1b[32mok\x1b[0m " + b"x" * 80 + b"\n"
FIRST_PAGE_MS = 300.0
RSS_MB = 100.0
PAGES = 20


def write_build(store_root: Path, name: str, build_id: str, size: int) -> None:
    build = store_root / "logs" / name / build_id
    build.mkdir(parents=True)
    with open(build / "build-log.txt", "wb") as f:
        block = LINE * 65536
        while f.tell() + len(block) <= size:
            f.write(block)
        f.write(LINE * max(0, (size - f.tell()) // len(LINE)))
        f.write(b"ERROR: the end\n")
    (build / "started.json").write_text('{"timestamp": 1}')
    (build / "finished.json").write_text('{"timestamp": 2, "passed": false, "result": "FAILURE"}')
    (store_root / "logs" / name / "latest-build.txt").write_text(build_id)


def add_job(engine: object, name: str, build_id: str) -> int:
    with write_lock(engine), session_factory(engine).begin() as s:  # type: ignore[arg-type]
        job, _ = create_job(s, JobCreate(name=name, type="periodic"))
        set_state(s, job.id, "pending", build_id=build_id)
        set_state(s, job.id, "failure", description="Job failed.")
        return job.id


def timed(client: TestClient, url: str, n: int, expect: str = "ERROR: the end") -> list[float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200 and expect in r.text, r.status_code
    return sorted(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="foredeck-bench-"))
    try:
        store = work / "store"
        t = time.monotonic()
        write_build(store, "big", "1790000000000000009", int(args.gib * 1024**3))
        write_build(store, "small", "1790000000000000010", 1024)
        print(f"wrote the logs in {time.monotonic() - t:.1f} s")
        url = f"sqlite:///{work / 'db.sqlite'}"
        engine = make_engine(url)
        migrate(engine)
        big = add_job(engine, "big", "1790000000000000009")
        small = add_job(engine, "small", "1790000000000000010")
        settings = Settings.model_validate({"database_url": url, "artifacts": {"url": str(store)}})
        client = TestClient(create_service_app(settings, engine))
        timed(client, f"/view/{small}", 2)  # warm up templates and imports
        timed(client, f"/view/{big}", 2)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        base = timed(client, f"/view/{small}", PAGES)
        first = timed(client, f"/view/{big}", PAGES)
        middle = int(args.gib * 1024**3) // 2
        earlier = timed(client, f"/view/{big}?end={middle}", 3, expect="[big/run]")
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        p95 = first[int(len(first) * 0.95) - 1] * 1000
        print(
            f"1 KB log page: median {statistics.median(base) * 1000:.1f} ms (baseline); "
            f"{args.gib:g} GiB log first page: median {statistics.median(first) * 1000:.1f} ms, "
            f"p95 {p95:.1f} ms; a middle page: median {statistics.median(earlier) * 1000:.1f} ms"
        )
        print(f"ratio={statistics.median(first) / statistics.median(base):.2f} (big / small log)")
        print(f"RSS growth over {PAGES * 2 + 3} pages: {grown:.1f} MB")
        ok = p95 < FIRST_PAGE_MS and grown < RSS_MB
        print(f"targets (< {FIRST_PAGE_MS:g} ms, < {RSS_MB:g} MB): {'met' if ok else 'NOT met'}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
