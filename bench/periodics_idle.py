"""CPU of an idle periodic scheduler with 10,000 periodics, against one with a single periodic.

"Idle": nothing is due during the measurement (cron periodics whose next slot is hours away), so
whatever CPU the scheduler uses is its own overhead. Both schedulers run in their thread
(`start()`, the default `tick` of 1 s, the central config from a YAML file as in production) on
a SQLite database; each is measured alone over the same wall time, after its first (full)
evaluation, as this process's CPU time while the main thread sleeps. Prints the CPU of one full
evaluation of all periodics (what a scheduler that re-evaluates everything pays per tick), each
idle scheduler's share of a core, and `ratio=<10k/1>`. Target: the 10k scheduler idles under 2%
of a core. Not run in CI.

    .venv/bin/python bench/periodics_idle.py [--periodics 10000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from foredeck.config import ConfigAgent
from foredeck.db import make_engine, migrate
from foredeck.periodics import PeriodicScheduler

SPEC = "  spec: {containers: [{image: alpine, command: ['true']}]}\n"


def jobs_yaml(count: int, now: datetime) -> str:
    """`count` daily cron periodics whose slots are 5 to 17 hours from `now`."""
    lines = ["periodics:\n"]
    for i in range(count):
        hour = (now.hour + 6 + i % 12) % 24
        lines.append(f"- name: periodic-{i}\n  cron: '{i % 60} {hour} * * *'\n{SPEC}")
    return "".join(lines)


def idle_cpu(path: Path, database_url: str, seconds: float) -> tuple[float, float]:
    """(CPU of the first full evaluation, CPU while idle for `seconds`) of one scheduler."""
    engine = make_engine(database_url)
    try:
        scheduler = PeriodicScheduler(engine, ConfigAgent(str(path)))
        start = time.process_time()
        assert scheduler.tick() == [], "something was due: the scheduler is not idle"
        full = time.process_time() - start
        scheduler.start()
        try:
            time.sleep(2.0)  # its own first pass, then idle
            start = time.process_time()
            time.sleep(seconds)
            idle = time.process_time() - start
        finally:
            scheduler.stop()
        return full, idle
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--periodics", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'bench.db'}"
        migrate(url)
        many, one = work / "many.yaml", work / "one.yaml"
        many.write_text(jobs_yaml(args.periodics, now))
        one.write_text(jobs_yaml(1, now))
        full, busy = idle_cpu(many, url, args.seconds)
        _, base = idle_cpu(one, url, args.seconds)
    share = 100 * busy / args.seconds
    print(f"one full evaluation of {args.periodics} periodics: {full:.3f} s CPU")
    print(
        f"idle, {args.periodics} periodics: {busy:.3f} s CPU in {args.seconds:g} s = {share:.2f}%"
    )
    print(f"idle, 1 periodic (baseline): {base:.3f} s CPU = {100 * base / args.seconds:.2f}%")
    print(f"ratio={busy / max(base, 1e-3):.1f}  (target: under 2% of a core: {share < 2})")


if __name__ == "__main__":
    main()
