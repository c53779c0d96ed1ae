"""The merge pool of a repository with in-repo config (`in_repo_config` on), end to end with the
local provider: the presubmits of its `.foredeck.yaml` are required as the central ones are, in
serial merges and in batches, and an invalid `.foredeck.yaml` keeps its pull request waiting.
Before Tide read in-repo config, no pull request of such a repository ever merged."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.db.fixtures import Database
from tests.tide.harness import Pool, make_pool, pool_config

MERGED = "acme/widget"
CHECK = 'test ! -e BROKEN && test "$(cat pair-* 2>/dev/null | wc -l)" -lt 2'
"""The in-repo presubmit: fails when the change adds a file named BROKEN, or with two `pair-*`
files (each alone passes: only a batch of two such changes fails)."""


def in_repo_yaml(*extra: dict[str, object]) -> str:
    check = {
        "name": "inrepo",
        "always_run": True,
        "spec": {"containers": [{"image": "busybox", "command": ["sh", "-c", CHECK]}]},
    }
    return yaml.safe_dump({"presubmits": [check, *extra]})


@pytest.fixture
def pool(db: Database, tmp_path: Path) -> Pool:
    return make_pool(db, tmp_path, pool_config(), in_repo=in_repo_yaml())


def test_a_pull_whose_in_repo_job_passes_merges_one_whose_job_fails_does_not(pool: Pool) -> None:
    pool.open(1, {"a.txt": "a\n"})
    broken = pool.open(2, {"BROKEN": "x\n"})
    pool.approve(1, 2)
    assert pool.sync().merged == [(MERGED, 1)]
    for _ in range(2):
        assert pool.sync().merged == []
    assert pool.open_numbers() == [2]
    assert "BROKEN" not in pool.main_files()
    assert pool.tide_status(broken) == "Not mergeable. Job inrepo has not succeeded."
    assert ("inrepo", "success", [1]) in pool.runs("presubmit")


def test_a_job_a_pull_adds_to_its_own_in_repo_config_is_required(pool: Pool) -> None:
    """`docs` exists only in the pull request's tree: Tide reads that tree, so `docs` failing
    keeps it out, and passing (a new push) lets it merge."""
    docs = {
        "name": "docs",
        "always_run": True,
        "spec": {"containers": [{"image": "busybox", "command": ["test", "-e", "DOCS"]}]},
    }
    head = pool.open(1, {".foredeck.yaml": in_repo_yaml(docs)})
    pool.approve(1)
    assert pool.sync().merged == []
    assert pool.tide_status(head) == "Not mergeable. Job docs has not succeeded."
    pool.open(1, {"DOCS": "yes\n"})
    pool.settle()  # the push takes lgtm away
    pool.comment(1, "/lgtm")
    assert pool.sync().merged == [(MERGED, 1)]
    assert {"DOCS", ".foredeck.yaml"} <= pool.main_files()


def test_an_invalid_in_repo_config_keeps_its_pull_waiting_and_says_why(pool: Pool) -> None:
    pool.open(1, {"a.txt": "a\n"})
    head = pool.open(2, {".foredeck.yaml": "presubmits:\n- always_run: true\n"})
    pool.approve(1, 2)
    assert pool.sync().merged == [(MERGED, 1)]  # the other one is not held up
    for _ in range(2):
        assert pool.sync().merged == []
    status = pool.tide_status(head)
    assert status.startswith("Not mergeable. In-repo config is invalid: .foredeck.yaml:2:"), status
    assert pool.open_numbers() == [2]
    lint = {
        "name": "lint",
        "always_run": True,
        "spec": {"containers": [{"image": "busybox", "command": ["true"]}]},
    }
    pool.open(2, {".foredeck.yaml": in_repo_yaml(lint)})  # fixed
    pool.settle()  # the push takes lgtm away
    pool.comment(2, "/lgtm")
    assert pool.sync().merged == [(MERGED, 2)]
    assert ("lint", "success", [2]) in pool.runs("presubmit")


def test_a_batch_runs_the_in_repo_jobs_and_falls_back_to_serial_when_one_fails(
    pool: Pool,
) -> None:
    pool.open(1, {"a.txt": "a\n"})
    pool.open(2, {"pair-2": "2\n"})  # each passes `inrepo` alone, the two together fail it
    pool.open(3, {"pair-3": "3\n"})
    pool.approve(1, 2, 3)
    assert pool.sync().merged == [(MERGED, 1)]
    assert pool.sync().pools[0].action == "batch"
    assert sorted(pool.runs("batch")) == [
        ("inrepo", "failure", [2, 3]),
        ("unit", "success", [2, 3]),  # the central job alone would have let both through
    ]
    assert pool.sync().pools[0].action == "retest"  # not the same batch again: 2 alone
    assert pool.sync().merged == [(MERGED, 2)]
    for _ in range(3):
        pool.sync()  # 3 is retested on the base with 2: `inrepo` fails now
    assert pool.open_numbers() == [3]
    assert "pair-3" not in pool.main_files()


def test_a_green_batch_with_in_repo_jobs_merges(pool: Pool) -> None:
    pool.open(1, {"a.txt": "a\n"})
    pool.open(2, {"b.txt": "b\n"})
    pool.open(3, {"c.txt": "c\n"})
    pool.approve(1, 2, 3)
    assert pool.sync().merged == [(MERGED, 1)]
    assert pool.sync().pools[0].action == "batch"
    assert pool.sync().merged == [(MERGED, 2), (MERGED, 3)]
    assert sorted(pool.runs("batch")) == [
        ("inrepo", "success", [2, 3]),
        ("unit", "success", [2, 3]),
    ]
    assert pool.tide.in_repo_reads == 6  # 1, 2 and 3, then 2 and 3 on the new base, the batch


def test_a_pull_whose_tree_cannot_be_read_waits_and_says_why(pool: Pool) -> None:
    """2 no longer merges into the base once 1 is merged: its in-repo config (and so what it
    must pass) cannot be known; the reason, longer than a status takes, is written once."""
    name = "docs/a-rather-long-name-for-a-file-both-change.md"
    pool.open(1, {name: "one\n"})
    head = pool.open(2, {name: "two\n"})
    pool.approve(1, 2)
    assert pool.sync().merged == [(MERGED, 1)]
    assert pool.sync().merged == []
    status = pool.tide_status(head)
    assert status.startswith(
        "Not mergeable. In-repo config cannot be read: acme/widget: pull #2 ("
    ), status
    assert "does not merge cleanly onto main" in status and len(status) == 140
    reads = pool.tide.in_repo_reads
    assert pool.tide.sync_once().statuses == 0  # the same (cut) reason: not written again
    assert pool.tide.in_repo_reads == reads  # a conflict is not tried again
    assert pool.open_numbers() == [2]
