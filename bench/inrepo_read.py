"""Reading a pull request's in-repo config: `checkout_paths` (the pulls merged with `git
merge-tree`, only `.foredeck.yaml` / `.foredeck/` written) against the full checkout it
replaced, in the same process, on a repository of `--files` files.

Each round reads the same refs both ways from a warm mirror (the fetch is not timed: both share
it), alternately, and the best of `--rounds` counts. Prints each time and `ratio=<full /
paths>`. Not run in CI.

    PYTHONPATH=src python bench/inrepo_read.py [--files 20000] [--rounds 5]

Measured on the 2-core development machine (three helpers' tests running, load average about
3), 20,000 files of 1 KiB in 200 folders, one pull request:
    full checkout 698 ms, checkout_paths 18 ms: ratio=38.8 (200 files: 381 and 21 ms)
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the `tests` package

from tests.kit.git import Repo, git

from foredeck.scm.git import checkout
from foredeck.scm.tree_files import checkout_paths
from foredeck.types import Pull, Refs

PATHS = (".foredeck.yaml", ".foredeck")


def make_repo(path: Path, files: int) -> tuple[Repo, str]:
    repo = Repo(path)
    blob = "x" * 1023 + "\n"
    for i in range(files):
        target = path / f"dir{i % 200}" / f"file{i}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(blob)
    (path / ".foredeck.yaml").write_text("presubmits:\n  - name: unit\n    script: make\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "big")
    head = repo.pull(1, {"dir0/file0.txt": "changed\n"})
    return repo, head


async def timed(refs: Refs, work: Path, mirrors: Path, full: bool) -> float:
    dest = work / "dest"
    shutil.rmtree(dest, ignore_errors=True)
    started = time.perf_counter()
    if full:
        await checkout(refs, dest, mirror_root=mirrors)
    else:
        record = await checkout_paths(refs, dest, PATHS, mirror_root=mirrors)
        assert record is not None
    took = time.perf_counter() - started
    assert (dest / ".foredeck.yaml").is_file()
    return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="foredeck-inrepo-") as tmp:
        work = Path(tmp)
        repo, head = make_repo(work / "up" / "org" / "repo", args.files)
        refs = Refs(
            org="org",
            repo="repo",
            base_ref="main",
            base_sha=repo.head("main"),
            clone_uri=str(repo.path),
            pulls=[Pull(number=1, sha=head, author="a")],
        )
        mirrors = work / "mirrors"
        await timed(refs, work, mirrors, full=True)  # warm: the mirror holds everything
        full, paths = [], []
        for _ in range(args.rounds):
            full.append(await timed(refs, work, mirrors, full=True))
            paths.append(await timed(refs, work, mirrors, full=False))
    print(f"{args.files} files, one pull request, best of {args.rounds}")
    print(f"  full checkout   {min(full) * 1e3:7.1f} ms")
    print(f"  checkout_paths  {min(paths) * 1e3:7.1f} ms")
    print(f"ratio={min(full) / min(paths):.1f} (full / paths)")


if __name__ == "__main__":
    asyncio.run(main())
