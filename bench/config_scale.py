"""Job config at scale: load + validate 4,000 Prow jobs, and match one PR event against them.

Targets: load + validate < 2 s; matching a PR event (repo, branch, 30 changed files)
< 5 ms. Each figure is printed next to a baseline measured here on the same data:
  - load: a plain `yaml.safe_load` of the same files (PyYAML, no validation, no line tracking),
    and the same with libyaml (`yaml.CSafeLoader`), the floor for any YAML-based loader;
  - match: a trivial loop that only compares every job's repository with the event's.

Run: .venv/bin/python bench/config_scale.py
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from foredeck.config import load_config

N_JOBS = 4000
N_REPOS = 150
LOAD_TARGET_S = 2.0
MATCH_TARGET_MS = 5.0
DIRS = ["api", "pkg", "cmd", "docs", "test/e2e", "hack", "web/src", "internal", "deploy", "sdk"]


def _container(rng: random.Random, name: str) -> dict[str, Any]:
    return {
        "image": f"registry.example.org/ci/builder:v2024{rng.randint(1000, 9999)}",
        "command": ["runner.sh"],
        "args": [f"./hack/{name}.sh", f"--parallel={rng.randint(1, 8)}", "--timeout=55m"],
        "env": [
            {"name": "GO111MODULE", "value": "on"},
            {"name": "TEST_SUITE", "value": name},
        ],
        "resources": {
            "requests": {"cpu": rng.choice([1, 2, 4]), "memory": "4Gi"},
            "limits": {"cpu": 4, "memory": "8Gi"},
        },
        "securityContext": {"privileged": rng.random() < 0.2},
    }


def _base(rng: random.Random, name: str) -> dict[str, Any]:
    job: dict[str, Any] = {
        "name": name,
        "decorate": True,
        "cluster": rng.choice(["default", "build-a", "build-b"]),
        "annotations": {
            "testgrid-dashboards": f"dash-{rng.randint(1, 40)}",
            "testgrid-tab-name": name,
        },
        "spec": {"containers": [_container(rng, name)]},
    }
    if rng.random() < 0.5:
        job["labels"] = {f"preset-{rng.choice(['creds', 'dind', 'cache'])}": "true"}
    if rng.random() < 0.3:
        job["decoration_config"] = {"timeout": f"{rng.randint(1, 4)}h", "grace_period": "15m"}
    if rng.random() < 0.2:
        job["extra_refs"] = [{"org": "tools", "repo": "test-infra", "base_ref": "main"}]
    return job


def _presubmit(rng: random.Random, name: str) -> dict[str, Any]:
    job = _base(rng, name)
    roll = rng.random()
    if roll < 0.3:
        job["always_run"] = True
    elif roll < 0.75:
        job["run_if_changed"] = f"^({rng.choice(DIRS)}|{rng.choice(DIRS)})/"
    elif roll < 0.85:
        job["skip_if_only_changed"] = r"^docs/|\.md$|OWNERS$"
    if rng.random() < 0.4:
        job["branches"] = ["^main$", r"^release-\d+\.\d+$"]
    elif rng.random() < 0.1:
        job["skip_branches"] = ["^gh-pages$"]
    job["optional"] = rng.random() < 0.3
    return job


def generate(root: Path, seed: int = 3) -> int:
    """Write the job tree; returns the number of jobs written."""
    rng = random.Random(seed)
    repos = [f"org{i % 12}/repo-{i}" for i in range(N_REPOS)]
    n_pre, n_post = int(N_JOBS * 0.6), int(N_JOBS * 0.22)
    n_periodic = N_JOBS - n_pre - n_post
    pre: dict[str, list[dict[str, Any]]] = {r: [] for r in repos}
    post: dict[str, list[dict[str, Any]]] = {r: [] for r in repos}
    for i in range(n_pre):
        repo = repos[i % N_REPOS]
        pre[repo].append(_presubmit(rng, f"pull-{repo.split('/')[1]}-check-{i}"))
    for i in range(n_post):
        repo = repos[i % N_REPOS]
        job = _base(rng, f"post-{repo.split('/')[1]}-publish-{i}")
        job["branches"] = ["^main$"]
        if rng.random() < 0.5:
            job["run_if_changed"] = f"^{rng.choice(DIRS)}/"
        post[repo].append(job)
    periodics = []
    for i in range(n_periodic):
        job = _base(rng, f"ci-periodic-{i}")
        if i % 3 == 0:
            job["cron"] = f"{i % 60} */{1 + i % 6} * * *"
        else:
            job["interval"] = f"{1 + i % 24}h"
        periodics.append(job)
    for i, repo in enumerate(repos):
        folder = root / repo.split("/")[0]
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"presubmits": {repo: pre[repo]}, "postsubmits": {repo: post[repo]}}
        (folder / f"{repo.split('/')[1]}-{i}.yaml").write_text(yaml.safe_dump(doc))
    for chunk in range(0, n_periodic, 100):
        doc = {"periodics": periodics[chunk : chunk + 100]}
        (root / f"periodics-{chunk // 100}.yaml").write_text(yaml.safe_dump(doc))
    presets = [
        {"labels": {f"preset-{p}": "true"}, "env": [{"name": f"{p.upper()}_ENABLED", "value": "1"}]}
        for p in ("creds", "dind", "cache")
    ]
    (root / "presets.yaml").write_text(yaml.safe_dump({"presets": presets}))
    return n_pre + n_post + n_periodic


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of `repeat` runs (the machine is shared: the best run is the least
    disturbed one)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cpu_of(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="foredeck-bench-") as tmp:
        root = Path(tmp)
        written = generate(root)
        files = sorted(root.rglob("*.yaml"))
        size_mb = sum(f.stat().st_size for f in files) / 1e6

        def plain_load() -> None:
            for f in files:
                yaml.safe_load(f.read_text())

        def plain_c_load() -> None:
            for f in files:
                yaml.load(f.read_text(), Loader=yaml.CSafeLoader)

        result = load_config([root])
        if result.errors:
            for e in result.errors[:10]:
                print(e)
            return 1
        counts = result.jobs.counts()
        assert sum(counts[k] for k in ("presubmits", "postsubmits", "periodics")) == written
        base_load = best_of(plain_load, 2)
        base_c_load = best_of(plain_c_load, 2)
        load = best_of(lambda: load_config([root]), 3)
        load_cpu = cpu_of(lambda: load_config([root]))

        config = result.jobs
        rng = random.Random(7)
        repo = "org5/repo-17"
        changed = [f"{rng.choice(DIRS)}/file_{i}.go" for i in range(30)]
        all_jobs = [(getattr(j, "org_repo", ""), j) for j in config.all_jobs()]

        def trivial() -> int:
            return sum(1 for job_repo, _ in all_jobs if job_repo == repo)

        def match() -> int:
            n = len(config.presubmits_to_run(repo, "main", changed))
            return n + len(config.postsubmits_for(repo, "refs/heads/main", changed))

        matched = match()
        base_match = statistics.median(best_of(trivial, 5) for _ in range(5))
        match_t = statistics.median(best_of(match, 50) for _ in range(5))
        comment_t = best_of(
            lambda: config.presubmits_for_comment(repo, "main", "/test all", changed), 50
        )

    print(f"jobs: {counts} in {len(files)} files, {size_mb:.1f} MB of YAML")
    print(
        f"load+validate: {load:.3f} s wall, {load_cpu:.3f} s CPU (target < {LOAD_TARGET_S} s); "
        f"plain yaml.safe_load of the same files: {base_load:.3f} s; "
        f"ratio {load / base_load:.2f}x; plain libyaml load (yaml.CSafeLoader): "
        f"{base_c_load:.3f} s, ratio {load / base_c_load:.2f}x"
    )
    print(
        f"match PR event ({repo}, main, 30 files -> {matched} jobs): {match_t * 1e3:.3f} ms "
        f"(target < {MATCH_TARGET_MS} ms); trivial loop over {len(all_jobs)} jobs: "
        f"{base_match * 1e3:.3f} ms; ratio {match_t / base_match:.2f}x"
    )
    print(f"'/test all' comment on the same PR: {comment_t * 1e3:.3f} ms")
    ok = load < LOAD_TARGET_S and match_t * 1e3 < MATCH_TARGET_MS
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
