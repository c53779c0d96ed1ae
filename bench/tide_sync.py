"""One merge pool sync over 1,000 open pull requests in 10 repositories (local provider), against
the time of listing those pull requests alone.

Generates 10 bare repositories (`git fast-import`), each with `main` and 100 `pr/N` branches of
one commit; half the pull requests carry `lgtm` and `approved` and a green `unit` status, the
rest miss a label. One `tide:` query covers the ten. A first sync writes every `tide` status and
starts a batch per pool (no controller runs it here); the timed syncs are the steady state that
follows: each lists the pull requests, reads their statuses and the runs in the job table,
decides every pool (a batch is in flight: wait) and writes nothing, as the `tide` statuses did
not change. The baseline, in the same process, is `list_open_pulls` of the ten repositories.
Prints both medians and `ratio=<sync/list>`. Not run in CI.

    PYTHONPATH=src .venv/bin/python bench/tide_sync.py [--repos 10] [--pulls 100]

Measured on 2 shared cores, SQLite, Python 3.11 (medians of 5): listing 1,000 pull requests
146 ms, one sync 429 ms (ratio 2.95; runs vary 2-3x with the machine's load); the first sync,
which writes 1,000 `tide` statuses and starts 10 batches, 2.4 s. Before this bench, listing ran
four git commands per pull request (`LocalPulls.pull` each): 15 s for the 1,000; it is two per
repository now (`LocalPulls.open_pulls`), and a status on a listed head no longer asks git
whether the commit exists (the first sync took 10 s before that).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from foredeck.config import ConfigAgent
from foredeck.db import make_engine, migrate
from foredeck.db.engine import session_factory, write_lock
from foredeck.db.models import ScmStatus
from foredeck.db.types import utcnow
from foredeck.scm.gitrun import git_env
from foredeck.scm.local.client import LocalScm
from foredeck.scm.local.jsonfile import SharedJson
from foredeck.scm.local.labels import LABELS_FILE
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import Settings
from foredeck.tide import Tide
from reporter_due import median_ms  # bench/ is on sys.path when run as a script

ORG = "bench"


def fast_import(repo: Path, pulls: int) -> dict[int, str]:
    """A bare repository with `main` and `pr/1..N`; the head sha of each pull request."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
    lines = []
    when = "1700000000 +0000"

    def commit(ref: str, mark: int, parent: int | None, path: str, author: str) -> None:
        data = f"{path}\n".encode()
        message = f"Change {path}"
        lines.append(f"commit {ref}\nmark :{mark}\n")
        lines.append(f"author {author} <{author}@example.com> {when}\n")
        lines.append(f"committer {author} <{author}@example.com> {when}\n")
        lines.append(f"data {len(message)}\n{message}\n")
        if parent is not None:
            lines.append(f"from :{parent}\n")
        lines.append(f"M 644 inline {path}\ndata {len(data)}\n{data.decode()}\n")

    commit("refs/heads/main", 1, None, "README.md", "alice")
    for n in range(1, pulls + 1):
        commit(f"refs/heads/pr/{n}", n + 1, 1, f"src/f{n}.txt", f"dev{n % 7}")
    stream = "".join(lines).encode()
    subprocess.run(
        ["git", f"--git-dir={repo}", "fast-import", "--quiet"],
        input=stream,
        check=True,
        env=git_env(),
    )
    out = subprocess.run(
        [
            "git",
            f"--git-dir={repo}",
            "for-each-ref",
            "--format=%(refname:lstrip=3) %(objectname)",
            "refs/heads/pr/",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=git_env(),
    ).stdout
    return {int(n): sha for n, sha in (line.split() for line in out.splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=10)
    parser.add_argument("--pulls", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repos"
        engine = make_engine(f"sqlite:///{tmp}/fd.db")
        migrate(engine)
        names = [f"repo{i}" for i in range(args.repos)]
        labels: dict[str, list[str]] = {}
        statuses = []
        now = utcnow()
        started = time.perf_counter()
        for name in names:
            heads = fast_import(root / ORG / f"{name}.git", args.pulls)
            for n, sha in heads.items():
                if n % 2:
                    labels[f"{ORG}/{name}#{n}"] = ["lgtm", "approved"]
                    statuses.append(
                        ScmStatus(
                            org=ORG,
                            repo=name,
                            sha=sha,
                            context="unit",
                            state="success",
                            description="",
                            target_url=None,
                            created_at=now,
                            updated_at=now,
                        )
                    )
        with SharedJson(root / LABELS_FILE, "labels").locked():
            SharedJson(root / LABELS_FILE, "labels").write(labels)
        with write_lock(engine), session_factory(engine).begin() as s:
            s.add_all(statuses)
        unit = {"name": "unit", "always_run": True, "spec": {"containers": [{"image": "busybox"}]}}
        config = {
            "presubmits": {f"{ORG}/{name}": [unit] for name in names},
            "tide": {"queries": [{"orgs": [ORG], "labels": ["lgtm", "approved"]}]},
        }
        jobs = Path(tmp) / "jobs.yaml"
        jobs.write_text(yaml.safe_dump(config))
        total = args.repos * args.pulls
        made = time.perf_counter() - started
        print(f"{total} pull requests in {args.repos} repositories made in {made:.1f} s")

        settings = Settings.model_validate(
            {
                "database_url": f"sqlite:///{tmp}/fd.db",
                "scm": {"provider": "local", "local_root": str(root)},
            }
        )
        provider = provider_from_settings(settings, engine)
        tide = Tide(engine, ConfigAgent(str(jobs), reload_interval=3600), provider)

        def listing() -> None:
            async def run() -> None:
                async with LocalScm(root, engine) as scm:
                    for name in names:
                        found = await scm.list_open_pulls(ORG, name)
                        assert len(found) == args.pulls

            asyncio.run(run())

        first = time.perf_counter()
        result = tide.sync_once()
        first_s = time.perf_counter() - first
        wrote = f"{result.statuses} tide statuses written, {result.started} batch runs started"
        print(f"first sync: {first_s:.2f} s ({wrote})")
        listed = median_ms(listing, args.runs)
        synced = median_ms(tide.sync_once, args.runs)
        steady = tide.last
        assert steady is not None and steady.statuses == 0 and steady.merged == []
        print(f"list {total} pull requests: {listed:.0f} ms (median of {args.runs})")
        print(f"one pool sync:               {synced:.0f} ms (median of {args.runs})")
        print(f"ratio={synced / listed:.2f}")


if __name__ == "__main__":
    main()
