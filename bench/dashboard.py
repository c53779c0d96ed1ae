"""Dashboard at scale: p95 server time of the job list with 1M job rows.

Target: p95 of `/` and `/api/jobs` < 100 ms with 1M jobs, with and without filters.
Every figure is printed next to a baseline measured on the same app in the same run:
`/healthz` (routing, a `SELECT 1`, JSON), so that the ratio shows what the page itself costs.
Requests go through the ASGI app in-process (httpx `ASGITransport`): no sockets, so the time is
the server's.

The database is filled with a raw-connection bulk insert (SQLite `executemany`, PostgreSQL
`COPY`) in a temporary directory / schema, then measured twice: with the schema's indexes as
migrated, and with `--extra-indexes` (the indexes this bench suggests; see docs/dashboard.md).

Run: .venv/bin/python bench/dashboard.py [--rows 1000000] [--pg URL] [--extra-indexes]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text

from bulkload import copy_pg, insert_sqlite, pg_schema, sqlite_database
from foredeck.serve.app import create_service_app
from foredeck.settings import Settings

TARGET_MS = 100.0
N_ORGS = 10
N_REPOS = 200
N_NAMES = 400
N_AUTHORS = 3000
REQUESTS = 60
WARMUP = 5
MIN_REQUESTS = 20
BUDGET_S = 10.0
"""Per URL: stop after this long once MIN_REQUESTS were measured (the slow ones)."""
T0 = datetime(2024, 1, 1, tzinfo=UTC)

COLUMNS = [
    "name",
    "type",
    "state",
    "org",
    "repo",
    "base_ref",
    "base_sha",
    "pull_number",
    "pulls",
    "refs",
    "extra_refs",
    "job_config",
    "context",
    "created_at",
    "started_at",
    "finished_at",
    "description",
    "requeues",
    "suppress_report",
]

# The (name|state|type|org,repo) + id indexes this bench first suggested are in the schema now
# (migration 0003). What is left is PostgreSQL-only.
EXTRA_INDEXES: dict[str, str] = {}


PG_EXTRA_INDEXES = {
    # the author filter: JSONB containment on `pulls`
    "ix_jobs_pulls": "CREATE INDEX ix_jobs_pulls ON jobs USING gin (pulls jsonb_path_ops)",
}


def rows(n: int, seed: int = 5) -> Iterator[tuple[Any, ...]]:
    """`n` jobs over a year, ids ascending with time, shaped like a busy Prow instance."""
    rng = random.Random(seed)
    names = [
        f"pull-kubeflow-{i:03d}-{rng.choice(['unit', 'e2e', 'lint', 'build'])}"
        for i in range(N_NAMES)
    ]
    repos = [(f"org{r % N_ORGS}", f"repo{r}") for r in range(N_REPOS)]
    authors = [f"user{i}" for i in range(N_AUTHORS)]
    step = 365 * 86400 / n
    for i in range(n):
        created = T0 + timedelta(seconds=i * step)
        kind = rng.choices(["presubmit", "postsubmit", "periodic", "batch"], [80, 12, 6, 2])[0]
        recent = i > n - 200
        state = (
            rng.choice(["triggered", "pending"])
            if recent
            else rng.choices(["success", "failure", "aborted", "error"], [85, 10, 4, 1])[0]
        )
        org, repo = repos[int(rng.paretovariate(1.2)) % N_REPOS]
        name = names[int(rng.paretovariate(1.1)) % N_NAMES]
        pulls: list[dict[str, Any]] = []
        pr = None
        if kind in ("presubmit", "batch"):
            for _ in range(1 if kind == "presubmit" else rng.randint(2, 4)):
                pulls.append(
                    {
                        "number": rng.randint(1, 8000),
                        "author": rng.choice(authors),
                        "sha": secrets.token_hex(20),
                        "title": "Change things",
                    }
                )
            pr = pulls[0]["number"] if kind == "presubmit" else None
        refs = None
        if kind != "periodic":
            refs = {"org": org, "repo": repo, "base_ref": "master", "pulls": pulls}
        started = created + timedelta(seconds=5) if state != "triggered" else None
        finished = (
            created + timedelta(seconds=rng.randint(30, 3600))
            if state not in ("triggered", "pending")
            else None
        )
        yield (
            name,
            kind,
            state,
            org if refs else None,
            repo if refs else None,
            "master" if refs else None,
            "a" * 40 if refs else None,
            pr,
            json.dumps(pulls),
            json.dumps(refs) if refs else None,
            "[]",
            "{}",
            name,
            created,
            started,
            finished,
            f"Job {state}" if finished else None,
            0,
            False,
        )


def fill_sqlite(path: Path, n: int) -> None:
    insert_sqlite(path, {"jobs": (COLUMNS, rows(n))})


def fill_pg(engine: Engine, n: int) -> None:
    copy_pg(engine, {"jobs": (COLUMNS, rows(n))})


async def measure(app: Any, urls: dict[str, str]) -> dict[str, list[float]]:
    """Round-robin over `urls` (so that a burst of load elsewhere on the machine hits every URL
    alike, the baseline included); a URL drops out after MIN_REQUESTS once it has cost
    BUDGET_S in total."""
    timings: dict[str, list[float]] = {label: [] for label in urls}
    spent = dict.fromkeys(urls, 0.0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for i in range(WARMUP + REQUESTS):
            for label, url in urls.items():
                samples = timings[label]
                if len(samples) >= MIN_REQUESTS and spent[label] > BUDGET_S:
                    continue
                start = time.perf_counter()
                response = await client.get(url)
                elapsed = time.perf_counter() - start
                spent[label] += elapsed
                if response.status_code != 200:
                    raise SystemExit(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
                if i >= WARMUP:
                    samples.append(elapsed * 1000)
    return timings


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def probe_values(engine: Engine) -> dict[str, Any]:
    """Filter values that exist in the data: a popular job, an author, a PR, a mid-table id."""
    with engine.connect() as conn:
        top = conn.execute(text("SELECT max(id) FROM jobs")).scalar_one()
        name, org, repo, pr = conn.execute(
            text(
                "SELECT name, org, repo, pull_number FROM jobs "
                "WHERE id = (SELECT max(id) FROM jobs WHERE type = 'presubmit')"
            )
        ).one()
        pulls = conn.execute(
            text("SELECT pulls FROM jobs WHERE type = 'presubmit' ORDER BY id DESC LIMIT 1")
        ).scalar_one()
        author = (json.loads(pulls) if isinstance(pulls, str) else pulls)[0]["author"]
        rare = conn.execute(
            text("SELECT name FROM jobs WHERE id = :id"), {"id": top // 2}
        ).scalar_one()
    return {
        "top": top,
        "name": name,
        "rare": rare,
        "org": org,
        "repo": repo,
        "pr": pr,
        "author": author,
    }


def urls_for(v: dict[str, Any]) -> dict[str, str]:
    mid = v["top"] // 2
    return {
        "baseline /healthz": "/healthz",
        "/": "/",
        "/ ?job": f"/?job={v['name']}",
        "/ ?job (rare)": f"/?job={v['rare']}",
        "/ ?state=failure": "/?state=failure",
        "/ ?state=pending": "/?state=pending",
        "/ ?type=periodic": "/?type=periodic",
        "/ ?repo": f"/?repo={v['org']}/{v['repo']}",
        "/ ?repo&pr": f"/?repo={v['org']}/{v['repo']}&pr={v['pr']}",
        "/ ?author": f"/?author={v['author']}",
        "/ ?author (no match)": "/?author=nobody-at-all",
        "/ ?after (deep)": f"/?after={mid}",
        "/ ?job&after (deep)": f"/?job={v['name']}&after={mid}",
        "/api/jobs": "/api/jobs",
        "/api/jobs ?job": f"/api/jobs?job={v['name']}",
        "/api/jobs ?state=failure": "/api/jobs?state=failure",
        "/dashboard/rows.json": "/dashboard/rows.json",
        "/job-history/{job}": f"/job-history/{v['name']}",
        "/job-history/{job} deep": f"/job-history/{v['name']}?after={mid}",
        "/pr-history": f"/pr-history/{v['org']}/{v['repo']}/{v['pr']}",
        "/badge.svg": f"/badge.svg?job={v['name']}",
    }


def report(title: str, timings: dict[str, list[float]]) -> bool:
    base = p95(timings["baseline /healthz"])
    print(f"\n{title}")
    print(f"{'request':28} {'p50 ms':>8} {'p95 ms':>8} {'x baseline':>10}")
    ok = True
    for label, samples in timings.items():
        value = p95(samples)
        flag = ""
        if label.startswith(("/ ", "/api/jobs")) or label == "/":
            flag = "ok" if value < TARGET_MS else "SLOW"
            ok = ok and value < TARGET_MS
        print(
            f"{label:28} {statistics.median(samples):8.1f} {value:8.1f} {value / base:10.1f} {flag}"
        )
    return ok


def run(engine: Engine, url: str, label: str, extra: bool) -> bool:
    app = create_service_app(Settings(database_url=url), engine)
    values = probe_values(engine)
    ok = report(f"{label}: schema indexes", asyncio.run(measure(app, urls_for(values))))
    if extra:
        with engine.begin() as conn:
            extra_ddl = list(EXTRA_INDEXES.values())
            if engine.dialect.name == "postgresql":
                extra_ddl += PG_EXTRA_INDEXES.values()
            for ddl in extra_ddl:
                conn.execute(text(ddl))
            conn.execute(text("ANALYZE"))
        extra_ok = report(
            f"{label}: with extra indexes", asyncio.run(measure(app, urls_for(values)))
        )
        print(f"({label}: with the extra indexes the target is {'met' if extra_ok else 'NOT met'})")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", help="also measure on this PostgreSQL URL (a temporary schema)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--extra-indexes", action="store_true")
    args = parser.parse_args()
    ok = True
    if not args.no_sqlite:
        with sqlite_database() as (path, url, engine):
            start = time.perf_counter()
            fill_sqlite(path, args.rows)
            print(f"SQLite: {args.rows:,} jobs inserted in {time.perf_counter() - start:.1f} s")
            ok = run(engine, url, f"SQLite, {args.rows:,} jobs", args.extra_indexes) and ok
    if args.pg:
        with pg_schema(args.pg) as (url, engine):
            start = time.perf_counter()
            fill_pg(engine, args.rows)
            print(f"PostgreSQL: {args.rows:,} jobs copied in {time.perf_counter() - start:.1f} s")
            ok = run(engine, url, f"PostgreSQL, {args.rows:,} jobs", args.extra_indexes) and ok
    print(f"\ntarget: p95 < {TARGET_MS:.0f} ms for / and /api/jobs: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
