"""Trigger latency: signed `pull_request` webhook POST -> the job's first step process started.

A real `foredeck serve` (product defaults: SQLite, local executor, default poll intervals, so
only the in-process wake-up hints make it fast) talks to the GitHub double; the tested
repository is a real git repository in a temporary directory. One presubmit, one step:

    sh -c 'echo "$PULL_NUMBER $(date +%s.%N)" >> FILE'

PR events are sent one at a time (each waits for its step), so the figure is latency, not
queueing. Latency = the time `date` printed minus the time just before the POST was sent.

Baselines, measured here on the same machine because machines are noisy:
  - spawn: starting the same `sh -c 'echo ... $(date ...)'` directly (Popen -> `date`);
  - http:  a bare `GET /healthz` round trip to the same server.
Printed: `p50=..ms p99=..ms` and `ratio=p50/spawn p50`, plus where the time goes, from the
database: POST -> event logged (hook) -> job row created (worker + trigger) -> job claimed
(controller wake-up) -> step started (workspace, checkout, pipeline, executor). Target: p50 <
100 ms. Not run in CI.

    .venv/bin/python bench/trigger_latency.py [--events 100] [--pg] [--worker-thread]
        [--profile FILE.svg]

`--worker-thread` runs the event worker in a thread of the server instead of its own process.
`--profile FILE.svg` records the server with py-spy (`.venv/bin/py-spy`, CPU per thread)
into a flame graph (`FILE.txt`: collapsed stacks); it slows the server down, so the latencies
of a profiled run are not the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the GitHub double and the e2e harness live in tests/

from tests.controller.helpers import host_dir  # noqa: E402
from tests.db.fixtures import create_schema, drop_schema, schema_url, url_string  # noqa: E402
from tests.doubles.github_api import GitHubDouble  # noqa: E402
from tests.e2e.harness import Server, seed_github, widget_repo  # noqa: E402
from tests.hook.plugins.trigger_env import ORG, REPO, pr_payload  # noqa: E402
from tests.kit.webhooks import headers  # noqa: E402

from foredeck.db import Event, Job, make_engine, read_only, session_factory  # noqa: E402

TARGET_P50_MS = 100.0
WARMUP = 5


def wait_for(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.002)


def pct(values: list[float], q: int) -> float:
    """The q-th percentile (inclusive method: with 100 values, p99 is near the maximum)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def stamps(path: Path) -> dict[int, float]:
    found: dict[int, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            number, at = line.split()
            found[int(number)] = float(at)
    return found


def spawn_baseline(workdir: Path, runs: int) -> list[float]:
    """Popen of the very same step command -> the time `date` prints, in ms."""
    out = workdir / "spawn.txt"
    script = f'echo "$N $(date +%s.%N)" >> {out}'
    result = []
    for n in range(runs):
        sent = time.time()
        subprocess.run(["sh", "-c", script], env={**os.environ, "N": str(n)}, check=True)
        result.append((stamps(out)[n] - sent) * 1000)
    return result


def http_baseline(url: str, runs: int) -> list[float]:
    result = []
    with httpx.Client() as client:
        for _ in range(runs):
            sent = time.perf_counter()
            client.get(f"{url}/healthz").raise_for_status()
            result.append((time.perf_counter() - sent) * 1000)
    return result


def ts(value: datetime | None) -> float:
    assert value is not None
    return value.timestamp()


def breakdown(database_url: str, sent: dict[int, float], started: dict[int, float]) -> str:
    """Median (and max) ms of each stage, from the event and job rows."""
    engine = make_engine(database_url)
    try:
        with session_factory(read_only(engine))() as s:
            logged = {e.delivery_id: ts(e.received_at) for e in s.execute(select(Event)).scalars()}
            jobs = {j.pull_number: j for j in s.execute(select(Job)).scalars()}
    finally:
        engine.dispose()
    stages: dict[str, list[float]] = {
        "POST->logged": [],
        "logged->job row": [],
        "job row->claimed": [],
        "claimed->step": [],
    }
    for number, at in sent.items():
        job = jobs[number]
        received = logged[str(job.cause)]
        stages["POST->logged"].append(received - at)
        stages["logged->job row"].append(ts(job.created_at) - received)
        stages["job row->claimed"].append(ts(job.started_at) - ts(job.created_at))
        stages["claimed->step"].append(started[number] - ts(job.started_at))
    return "  ".join(
        f"{k}={statistics.median(v) * 1000:.1f}ms (max {max(v) * 1000:.0f})"
        for k, v in stages.items()
    )


def checkout_stats(workdir: Path) -> str:
    """Median ms of the checkout (`clone-records.json`) and of each git command in it."""
    totals: list[float] = []
    per_command: dict[str, list[float]] = {}
    for path in (workdir / ".foredeck" / "artifacts").glob("**/clone-records.json"):
        for record in json.loads(path.read_text()):
            totals.append(record["duration"] / 1e6)
            seen: dict[str, float] = {}
            for command in record["commands"]:
                words = command["command"].split()
                name = " ".join(words[1:3]) if len(words) > 2 else command["command"]
                seen[name] = seen.get(name, 0.0) + command["duration"] / 1e6
            for name, ms in seen.items():
                per_command.setdefault(name, []).append(ms)
    if not totals:
        return "no clone-records.json found"
    parts = [
        f"{name}={statistics.median(v):.1f}" + ("" if len(v) == len(totals) else f" ({len(v)}x)")
        for name, v in per_command.items()
    ]
    return (
        f"checkout={statistics.median(totals):.1f}ms over {len(totals)} jobs; "
        "git commands (ms; (Nx): only in N checkouts): " + ", ".join(parts)
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument(
        "--pg",
        action="store_true",
        help="PostgreSQL ($FOREDECK_TEST_PG_URL) in a schema of its own, dropped at the end; "
        "default: SQLite in a temporary directory",
    )
    parser.add_argument("--profile", type=Path, help="write a py-spy flame graph (SVG) here")
    parser.add_argument(
        "--worker-thread",
        action="store_true",
        help="the event worker in a thread of the server (`worker.own_process: false`) instead "
        "of a child process",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()

    with tempfile.TemporaryDirectory(prefix="trigger-latency-") as tmp, GitHubDouble() as gh:
        work = Path(tmp)
        repo = widget_repo(work / "origin" / ORG / REPO)
        seed_github(gh, repo)
        head = repo.topic("topic", {"feature.txt": "the feature\n"}, "change")
        out = host_dir(work) / "started.txt"  # the one host folder bound into the step's sandbox
        step = f'echo "$PULL_NUMBER $(date +%s.%N)" >> {out}'
        jobs = {
            "presubmits": {
                f"{ORG}/{REPO}": [
                    {
                        "name": "latency",
                        "always_run": True,
                        "clone_uri": str(repo.path),
                        "spec": {
                            "containers": [{"image": "alpine", "command": ["sh", "-c", step]}]
                        },
                    }
                ]
            }
        }
        schema = create_schema("bench") if args.pg else None
        database_url = (
            url_string(schema_url(schema)) if schema else f"sqlite:///{work / 'foredeck.db'}"
        )
        (work / "serve").mkdir()
        server = Server(
            workdir=work / "serve",
            database_url=database_url,
            gh=gh,
            jobs_yaml=yaml.safe_dump(jobs),
            overrides={"worker": {"own_process": not args.worker_thread}},
            fast_polls=False,
            log_level="warning",
        )
        server.start()
        profiler = None
        try:
            total = WARMUP + args.events
            for n in range(1, total + 1):
                repo.git("update-ref", f"refs/pull/{n}/head", head)
                gh.add_pull(ORG, REPO, n, author="alice", head_sha=head, files=["feature.txt"])
            if args.profile:
                profiler = _start_profiler(server, args.profile.absolute())
            sent: dict[int, float] = {}
            answered: list[float] = []
            base = repo.head()
            with httpx.Client(base_url=server.url, timeout=30) as client:
                for n in range(1, total + 1):
                    payload = pr_payload("opened", n, author="alice", head_sha=head, base_sha=base)
                    body = json.dumps(payload).encode()
                    signed = headers(body, str(uuid.uuid4()), "pull_request")
                    at = time.time()
                    client.post("/hook", content=body, headers=signed).raise_for_status()
                    if n > WARMUP:
                        answered.append((time.time() - at) * 1000)
                    sent[n] = at
                    wait_for(lambda n=n: n in stamps(out))  # type: ignore[misc]
            started = stamps(out)
            measured = {n: at for n, at in sent.items() if n > WARMUP}
            latencies = [(started[n] - at) * 1000 for n, at in measured.items()]
            spawn = spawn_baseline(work, 50)
            http = http_baseline(server.url, 50)
            stages = breakdown(database_url, measured, started)
            checkout = checkout_stats(work / "serve")
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                profiler.wait(60)
            server.cleanup()
            if schema is not None:
                drop_schema(schema)

    p50, p99 = pct(latencies, 50), pct(latencies, 99)
    spawn50, http50 = statistics.median(spawn), statistics.median(http)
    verdict = "OK" if p50 < TARGET_P50_MS else "ABOVE TARGET"
    print(f"trigger latency over {len(latencies)} PR events (after {WARMUP} warm-up):")
    print(f"p50={p50:.1f}ms p99={p99:.1f}ms max={max(latencies):.1f}ms  [{verdict} <100ms]")
    print(f"baselines: spawn p50={spawn50:.1f}ms  http GET /healthz p50={http50:.2f}ms")
    print(f"ratio={p50 / spawn50:.1f}x spawn  ({p50 / http50:.0f}x http round trip)")
    print(f"stages (median): POST answered={statistics.median(answered):.1f}ms  {stages}")
    print(f"checkout (median): {checkout}")
    if profiler is not None:
        print(f"profile: {args.profile}")


def _start_profiler(server: Server, output: Path) -> subprocess.Popen[bytes]:
    """py-spy on the server: where its CPU goes (git runs in child processes, not shown)."""
    py_spy = str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        py_spy = shutil.which("py-spy") or "py-spy"
    assert server.proc is not None
    argv = [py_spy, "record", "--pid", str(server.proc.pid), "--threads", "--subprocesses"]
    argv += ["--rate", "100", "--output", str(output)]
    if output.suffix == ".txt":  # collapsed stacks, for grep and scripts
        argv += ["--format", "raw"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    return proc


if __name__ == "__main__":
    main()
