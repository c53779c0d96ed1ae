"""The merge pool end to end with the local provider (the Done-when of issue 18): chat-ops
labels put pull requests in the pool, presubmits really run (alone and as batches), and Tide
merges with git into the bare repository, whose push runs the postsubmits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.db.fixtures import Database
from tests.tide.harness import Pool, make_pool, pool_config

MERGED = "acme/widget"


@pytest.fixture
def pool(db: Database, tmp_path: Path) -> Pool:
    return make_pool(db, tmp_path, pool_config())


def test_three_ready_pulls_merge_two_of_them_as_one_batch(pool: Pool) -> None:
    heads = {n: pool.open(n, {f"f{n}.txt": f"{n}\n"}) for n in (1, 2, 3)}
    assert pool.sync().merged == []  # not approved yet
    assert pool.tide_status(heads[1]) == "Not mergeable. Needs lgtm label; Needs approved label."

    pool.approve(1, 2, 3)
    assert len(pool.runs("postsubmit")) == 1  # main, as first seen
    first = pool.sync()
    assert first.merged == [(MERGED, 1)]  # tested on the current base: merged at once
    assert pool.runs("batch") == []
    assert len(pool.runs("postsubmit")) == 2  # the merge is a push: postsubmits ran

    second = pool.sync()  # 2 and 3 were tested on the old base: one batch of both
    assert second.merged == [] and second.pools[0].action == "batch"
    assert pool.runs("batch") == [("unit", "success", [2, 3])]
    assert pool.tide_status(heads[2]) == "In merge pool. Testing in a batch."

    third = pool.sync()
    assert third.merged == [(MERGED, 2), (MERGED, 3)]
    assert pool.runs("batch") == [("unit", "success", [2, 3])]  # one batch run
    assert len(pool.runs("presubmit")) == 3  # one run per pull request: nothing retested
    assert pool.open_numbers() == []
    assert {"f1.txt", "f2.txt", "f3.txt"} <= pool.main_files()


def test_a_failing_pull_is_left_out_of_the_batch_and_the_rest_merge(pool: Pool) -> None:
    pool.open(1, {"a.txt": "a\n"})
    failing = pool.open(2, {"FAIL": "x\n"})
    pool.open(3, {"c.txt": "c\n"})
    pool.open(4, {"d.txt": "d\n"})
    pool.approve(1, 2, 3, 4)
    assert pool.sync().merged == [(MERGED, 1)]
    assert pool.sync().pools[0].action == "batch"
    assert pool.runs("batch") == [("unit", "success", [3, 4])]
    assert pool.sync().merged == [(MERGED, 3), (MERGED, 4)]
    assert pool.open_numbers() == [2]
    assert "FAIL" not in pool.main_files()
    assert pool.tide_status(failing) == "Not mergeable. Job unit has not succeeded."


def test_a_failing_batch_falls_back_to_serial(pool: Pool) -> None:
    pool.open(1, {"a.txt": "a\n"})
    pool.open(2, {"clash-2": "2\n"})  # each passes alone, the two together fail
    pool.open(3, {"clash-3": "3\n"})
    pool.approve(1, 2, 3)
    assert pool.sync().merged == [(MERGED, 1)]
    pool.sync()
    assert pool.runs("batch") == [("unit", "failure", [2, 3])]
    retest = pool.sync()  # the same batch is not run again: 2 alone, on the new base
    assert retest.pools[0].action == "retest"
    assert pool.sync().merged == [(MERGED, 2)]
    for _ in range(3):
        pool.sync()  # 3 is retested on the base with 2: it fails now
    assert pool.open_numbers() == [3]
    assert pool.runs("batch") == [("unit", "failure", [2, 3])]


def test_hold_blocks_a_ready_pull_until_hold_cancel(pool: Pool) -> None:
    head = pool.open(1, {"a.txt": "a\n"})
    pool.approve(1)
    pool.comment(1, "/hold")
    assert pool.sync().merged == [] and pool.sync().merged == []
    assert pool.tide_status(head) == "Not mergeable. Should not have do-not-merge/hold label."
    pool.comment(1, "/hold cancel")
    assert pool.sync().merged == [(MERGED, 1)]


def test_a_new_push_removes_lgtm_and_the_pull_waits_for_it(pool: Pool) -> None:
    pool.open(1, {"a.txt": "a\n"})
    pool.comment(1, "/approve")
    pool.settle()
    pool.comment(1, "/hold")  # keep it from merging while it is approved
    pool.comment(1, "/lgtm")
    pool.settle()
    assert pool.labels(1) == ["approved", "do-not-merge/hold", "lgtm"]
    head = pool.open(1, {"b.txt": "b\n"})  # a new push
    pool.comment(1, "/hold cancel")
    assert pool.sync().merged == []
    assert pool.labels(1) == ["approved"]
    assert pool.tide_status(head) == "Not mergeable. Needs lgtm label."
    pool.comment(1, "/lgtm")
    assert pool.sync().merged == [(MERGED, 1)]
    assert {"a.txt", "b.txt"} <= pool.main_files()


def test_an_external_context_rerun_blocks_the_merge_until_green(
    db: Database, tmp_path: Path
) -> None:
    extra = {"context_options": {"required-contexts": ["gha/build"]}}
    pool = make_pool(db, tmp_path, pool_config(**extra))
    head = pool.open(1, {"a.txt": "a\n"})
    pool.approve(1)
    assert pool.sync().merged == []
    assert pool.tide_status(head) == "Not mergeable. Waiting for gha/build."
    pool.external(head, "failure")
    assert pool.sync().merged == []
    pool.external(head, "pending")  # the failed run is rerun: never merge meanwhile
    assert pool.sync().merged == [] and pool.sync().merged == []
    assert pool.tide_status(head) == "Not mergeable. Job gha/build is pending."
    pool.external(head, "success")
    assert pool.sync().merged == [(MERGED, 1)]
