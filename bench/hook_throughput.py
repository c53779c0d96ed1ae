"""Hook throughput: the real `POST /hook` against a bare endpoint of the same stack.

Both servers run as separate uvicorn processes with the same options; the bare one is a FastAPI
route that reads the body and answers 200 without verifying or persisting. The load generator
is a minimal keep-alive HTTP/1.1 client on asyncio streams (so that the client, not the servers,
is not what gets measured), sending signed GitHub example payloads with a fixed concurrency.

Prints deliveries/s for both, `ratio=<hook/bare>` (target >= 0.5), and the p99 latency of
`POST /hook` at a paced 200 requests/s (target < 50 ms). Not run in CI.

    .venv/bin/python bench/hook_throughput.py [--requests 3000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import Response

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = ROOT / "tests" / "data" / "webhooks" / "pull_request.opened.json"
SECRET = "bench-secret"
UVICORN_OPTIONS = ["--log-level", "warning"]


def bare_app() -> FastAPI:
    """The baseline: same FastAPI/uvicorn stack, body read, nothing else."""
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        await request.body()
        return Response(b'{"ok":true}', media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b"{}", media_type="application/json")

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(cmd: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = spawn(cmd, log)
    deadline = time.monotonic() + 90  # a loaded machine: two processes importing
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server did not start: {log.read_text()[-2000:]}")


def spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}:{ROOT / 'bench'}"}  # this checkout
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


def request_bytes(port: int, body: bytes) -> bytes:
    from foredeck.scm.webhooks import sign

    head = (
        f"POST /hook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nX-GitHub-Event: pull_request\r\n"
        f"X-GitHub-Delivery: {uuid.uuid4()}\r\nX-Hub-Signature-256: {sign(body, SECRET)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def saturate(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[int]]:
    """Send all requests over `concurrency` keep-alive connections; (seconds, statuses)."""
    queue = list(reversed(requests))
    statuses: list[int] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                statuses.append(await _exchange(reader, writer, queue.pop()))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, statuses


async def paced(port: int, requests: list[bytes], rate: float) -> tuple[list[float], list[int]]:
    """Open-loop load at `rate` requests/s on a pool of connections; per-request latencies."""
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(16):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    statuses: list[int] = []

    async def one(request: bytes, due: float) -> None:
        conn = await pool.get()
        try:
            statuses.append(await _exchange(*conn, request))
        finally:
            pool.put_nowait(conn)
        latencies.append(time.perf_counter() - due)

    tasks = []
    start = time.perf_counter()
    for i, request in enumerate(requests):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, due)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    return latencies, statuses


def hook_commands(topology: str, config: Path, port: int) -> list[tuple[str, list[str], bool]]:
    """(name, argv, serves HTTP) of the processes that make up the hook under test."""
    serve = [sys.executable, "-m", "foredeck.cli", "serve", "--config", str(config)]
    quiet = ["--log-level", "warning"]
    if topology.startswith("all-in-one"):
        # The embedded setup: one `serve --role all`, its event worker in a child process (or,
        # all-in-one-thread, a thread sharing the hook's process and GIL).
        return [("hook", [*serve, "--role", "all", "--port", str(port), *quiet], True)]
    hook = ("hook", [*serve, "--role", "hook", "--port", str(port), *quiet], True)
    if topology == "hook-only":
        return [hook]
    # As the Helm chart deploys it: the hook role, and the event worker in its own process
    # consuming the log while the storm goes on.
    return [hook, ("worker", [*serve, "--role", "worker", *quiet], False)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument(
        "--database-url", help="default: a fresh SQLite file; PostgreSQL: use an empty schema"
    )
    parser.add_argument(
        "--topology",
        choices=["deployed", "hook-only", "all-in-one", "all-in-one-thread"],
        default="deployed",
        help="deployed (default): `serve --role hook` plus a `--role worker` process, as the "
        "chart runs them; hook-only: no worker; all-in-one: `serve --role all`; "
        "all-in-one-thread: the same with `worker.own_process: false`",
    )
    args = parser.parse_args()
    body = PAYLOAD.read_bytes()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = {
            "database_url": args.database_url or f"sqlite:///{work / 'bench.db'}",
            "hook": {"secrets": [SECRET]},
            "artifacts": {"url": str(work / "artifacts")},
            # all-in-one: no GitHub here to report to (the other roles never start a reporter)
            "reporter": {"enabled": False},
            "worker": {"own_process": args.topology != "all-in-one-thread"},
        }
        (work / "hook.yaml").write_text(yaml.safe_dump(config))
        hook_port, bare_port = free_port(), free_port()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for name, cmd, http in hook_commands(args.topology, work / "hook.yaml", hook_port):
                if http:
                    procs.append(start(cmd, hook_port, work / f"{name}.log"))
                else:
                    procs.append(spawn(cmd, work / f"{name}.log"))
            procs.append(
                start(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        "hook_throughput:bare_app",
                        "--port",
                        str(bare_port),
                        "--no-access-log",
                        *UVICORN_OPTIONS,
                    ],
                    bare_port,
                    work / "bare.log",
                )
            )
            print(f"topology: {args.topology}")
            measure(args, body, hook_port, bare_port)
            if args.topology == "deployed":
                print(f"worker: {worker_progress(config['database_url'])}")
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)


def worker_progress(database_url: str) -> str:
    """How far the separate worker got: the log must be consumed, not just written."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        total, done = conn.execute(text("SELECT count(*), count(processed_at) FROM events")).one()
    engine.dispose()
    return f"{done} of {total} logged events processed by the end of the run"


def measure(args: argparse.Namespace, body: bytes, hook_port: int, bare_port: int) -> None:
    # Alternate short rounds and keep each server's best: other processes on a shared
    # machine then disturb both sides alike instead of whichever ran second.
    results: dict[str, list[float]] = {"bare": [], "hook": []}
    for port in (bare_port, hook_port):
        warm = [request_bytes(port, body) for _ in range(300)]
        asyncio.run(saturate(port, warm, args.concurrency))
    for _ in range(args.rounds):
        for name, port in (("bare", bare_port), ("hook", hook_port)):
            reqs = [request_bytes(port, body) for _ in range(args.requests)]
            seconds, statuses = asyncio.run(saturate(port, reqs, args.concurrency))
            ok = sum(200 <= s < 300 for s in statuses)
            assert ok == len(reqs), f"{name}: {ok}/{len(reqs)} 2xx: {set(statuses)}"
            results[name].append(len(reqs) / seconds)
    best = {name: max(rates) for name, rates in results.items()}
    for name, rates in results.items():
        listed = ", ".join(f"{r:.0f}" for r in rates)
        print(
            f"{name}: {best[name]:.0f} deliveries/s best of {args.rounds} rounds "
            f"({listed}; {args.requests} requests each, concurrency {args.concurrency})"
        )
    print(f"ratio={best['hook'] / best['bare']:.2f}")
    n = int(args.rate * args.paced_seconds)
    reqs = [request_bytes(hook_port, body) for _ in range(n)]
    latencies, statuses = asyncio.run(paced(hook_port, reqs, args.rate))
    assert all(s == 202 for s in statuses), "paced run: not every delivery was accepted"
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"paced {args.rate:.0f}/s for {args.paced_seconds:.0f}s: p50={p50:.1f}ms p99={p99:.1f}ms")


if __name__ == "__main__":
    main()
