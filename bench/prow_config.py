"""A real Prow job config: load + validate time, errors and warnings.

Loads a directory of Prow job config (default: the committed subset of kubernetes/test-infra's,
`tests/data/config/k8s-test-infra`) with `foredeck.config.load_config`, and prints beside it a
baseline measured here on the same files: a plain `yaml.safe_load` of every file (and the same
with libyaml), which validates nothing and tracks no lines. Target: 0 errors, under 2 s.

`--replicate N` loads N copies of the tree instead (presets once; every other copy's jobs renamed
`NAME-copyK`), to measure a config the size of Kubernetes' own from a smaller real sample.

Run: .venv/bin/python bench/prow_config.py [DIR] [--replicate N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from foredeck.config import ConfigResult, discover, load_config
from foredeck.config.result import warning_summary

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "data" / "config" / "k8s-test-infra"
TARGET_S = 2.0
RUNS = 3


def _renamed(jobs: list[Any], suffix: str) -> list[Any]:
    out = []
    for job in jobs:
        job = dict(job)
        job["name"] = f"{job['name']}{suffix}"
        if job.get("context"):
            job["context"] = f"{job['context']}{suffix}"
        out.append(job)
    return out


def _copy(doc: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The jobs of `doc`, renamed (presets and other settings are declared once)."""
    out: dict[str, Any] = {}
    if doc.get("periodics"):
        out["periodics"] = _renamed(doc["periodics"], suffix)
    for key in ("presubmits", "postsubmits"):
        if doc.get(key):
            out[key] = {repo: _renamed(jobs or [], suffix) for repo, jobs in doc[key].items()}
    return out


def replicate(root: Path, copies: int, dest: Path, per_file: int = 4) -> None:
    """`root` at `dest`, plus `copies - 1` renamed copies of its jobs, `per_file` copies a file
    (Kubernetes' config has about 6 jobs a file)."""
    files, _ = discover([root])
    for path in files:
        rel = path.relative_to(root)
        (dest / rel.parent).mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(path.read_bytes())
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        for first in range(1, copies, per_file):
            copy = [
                c
                for k in range(first, min(first + per_file, copies))
                for d in docs
                if isinstance(d, dict) and (c := _copy(d, f"-copy{k}"))
            ]
            if copy:
                target = dest / rel.parent / f"{path.stem}-copy{first}{path.suffix}"
                target.write_text(yaml.safe_dump_all(copy), encoding="utf-8")


def _best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _safe_load(files: list[Path], loader: type[Any]) -> None:
    for path in files:
        list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader))


def report(root: Path) -> ConfigResult:
    files, _ = discover([root])
    size = sum(p.stat().st_size for p in files)
    result = load_config([root])
    c = result.jobs.counts()
    jobs = c["presubmits"] + c["postsubmits"] + c["periodics"]
    print(f"{root}: {len(files)} files, {size / 1e6:.1f} MB, {jobs} jobs ({c})")
    print(f"errors: {len(result.errors)}, warnings: {len(result.warnings)}")
    for line in result.errors[:20]:
        print(f"  error: {line}")
    for line in warning_summary(result.warnings):
        print(f"  {line[:160]}")
    ours = _best(lambda: load_config([root]))
    plain = _best(lambda: _safe_load(files, yaml.SafeLoader))
    print(f"load + validate: {ours:.2f} s (target < {TARGET_S:.0f} s)")
    print(f"baseline yaml.safe_load: {plain:.2f} s (foredeck / baseline = {ours / plain:.2f})")
    if getattr(yaml, "CSafeLoader", None) is not None:
        fast = _best(lambda: _safe_load(files, yaml.CSafeLoader))
        print(f"baseline yaml CSafeLoader: {fast:.2f} s (foredeck / baseline = {ours / fast:.2f})")
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--replicate", type=int, default=1, metavar="N")
    args = parser.parse_args(argv)
    if args.replicate <= 1:
        result = report(args.root)
    else:
        with tempfile.TemporaryDirectory(prefix="prow-config-") as tmp:
            replicate(args.root, args.replicate, Path(tmp))
            result = report(Path(tmp))
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
