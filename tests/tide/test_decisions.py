"""What must be green (`tide.contexts.judge`) and what a pool does next (`tide.pool.plan`), on
hand-made pull requests: the cases the end-to-end tests do not reach."""

from __future__ import annotations

from datetime import UTC, datetime

from foredeck.config import Presubmit
from foredeck.scm.github_types import CommitStatus, PullBranch, PullRequest, StatusState, User
from foredeck.tide.contexts import Required, Verdict, judge
from foredeck.tide.history import PullKey, Run
from foredeck.tide.pool import Entry, plan

NOW = datetime(2026, 12, 7, tzinfo=UTC)
BASE = "b" * 40


def unit() -> Presubmit:
    job = Presubmit.model_validate(
        {"name": "unit", "always_run": True, "spec": {"containers": [{"image": "x"}]}}
    )
    job.finalize("acme/widget")
    return job


def statuses(*pairs: tuple[str, StatusState]) -> list[CommitStatus]:
    """Newest first, as the SCM lists them."""
    return [
        CommitStatus(id=i, state=s, context=c, created_at=NOW) for i, (c, s) in enumerate(pairs)
    ]


def required(**kw: object) -> Required:
    values: dict[str, object] = {
        "jobs": (unit(),),
        "external": frozenset(),
        "optional": frozenset(),
        "skip_unknown": False,
    }
    values.update(kw)
    return Required(**values)  # type: ignore[arg-type]


def test_required_contexts_must_be_green_and_others_must_not_fail() -> None:
    assert judge(required(), statuses(("unit", "success"))) == Verdict("success")
    assert judge(required(), []) == Verdict("pending", "Waiting for unit")
    assert judge(required(), statuses(("unit", "success"), ("lint", "failure"))).state == "failure"
    skip = required(skip_unknown=True)
    assert judge(skip, statuses(("unit", "success"), ("lint", "failure"))).state == "success"
    optional = required(optional=frozenset({"lint"}))
    assert judge(optional, statuses(("unit", "success"), ("lint", "pending"))).state == "success"
    present = required(skip_unknown=True, if_present=frozenset({"e2e"}))
    assert judge(present, statuses(("unit", "success"))).state == "success"
    assert judge(present, statuses(("unit", "success"), ("e2e", "pending"))).state == "pending"


def test_the_newest_status_of_a_context_counts_and_tide_own_never() -> None:
    rerun = statuses(("unit", "pending"), ("unit", "failure"))
    assert judge(required(), rerun) == Verdict("pending", "Job unit is pending")
    mine = statuses(("tide", "pending"), ("unit", "success"))
    assert judge(required(), mine).state == "success"


def entry(number: int, sha: str, state: str = "success", misses: list[str] | None = None) -> Entry:
    branch = PullBranch(ref="main", sha=BASE)
    pr = PullRequest(
        number=number,
        state="open",
        user=User(login="bob", id=1),
        head=PullBranch(ref=f"pr/{number}", sha=sha),
        base=branch,
    )
    return Entry(pr, misses, required(), Verdict(state))


def test_plan_order_green_batch_then_serial_then_batch_then_retest() -> None:
    one, two, three = entry(1, "1" * 40), entry(2, "2" * 40), entry(3, "3" * 40)
    pool = [one, two, three]
    green: dict[PullKey, dict[str, Run]] = {
        (one.key, two.key): {"unit": Run("unit", "success", BASE)}
    }
    assert [e.pr.number for e in plan(pool, BASE, {}, green, 0).merge] == [1, 2]
    fresh = {3: {"unit": Run("unit", "success", BASE)}}
    decided = plan(pool, BASE, fresh, {}, 0)
    assert (decided.action, [e.pr.number for e in decided.merge]) == ("merge", [3])
    stale = {n: {"unit": Run("unit", "success", "a" * 40)} for n in (1, 2, 3)}
    batch = plan(pool, BASE, stale, {}, 2)
    assert (batch.action, [e.pr.number for e in batch.start]) == ("batch", [1, 2])
    failed: dict[PullKey, dict[str, Run]] = {
        (one.key, two.key): {"unit": Run("unit", "failure", BASE)}
    }
    retest = plan(pool, BASE, stale, failed, 2)  # the same batch failed: serial
    assert (retest.action, [e.pr.number for e in retest.start]) == ("retest", [1])
    serial_only = plan(pool, BASE, stale, {}, -1)
    assert serial_only.action == "retest"


def test_a_running_batch_holds_the_pool_and_unready_pulls_stay_out() -> None:
    one, two = entry(1, "1" * 40), entry(2, "2" * 40)
    held, failing = entry(3, "3" * 40, misses=["Needs lgtm label"]), entry(4, "4" * 40, "failure")
    running: dict[PullKey, dict[str, Run]] = {
        (one.key, two.key): {"unit": Run("unit", "pending", BASE)}
    }
    decided = plan([one, two, held, failing], BASE, {}, running, 0)
    assert decided.action == "wait" and decided.testing == [one, two]
    stale = {n: {"unit": Run("unit", "success", "a" * 40)} for n in (1, 2)}
    batch = plan([one, two, held, failing], BASE, stale, {}, 0)
    assert [e.pr.number for e in batch.start] == [1, 2]


def job(name: str, image: str = "x") -> Presubmit:
    found = Presubmit.model_validate(
        {"name": name, "always_run": True, "spec": {"containers": [{"image": image}]}}
    )
    found.finalize("acme/widget")
    return found


def test_a_batch_runs_its_trees_jobs_and_never_fewer_than_its_members() -> None:
    """The batch's own tree (in-repo config) adds `combo` and redefines `unit`; the members'
    `lint` stays, though the tree does not have it; it merges only when every run is green."""
    one, two = entry(1, "1" * 40), entry(2, "2" * 40)
    two.required = required(jobs=(unit(), job("lint")))
    stale = {n: {"unit": Run("unit", "success", "a" * 40)} for n in (1, 2)}
    key: PullKey = (one.key, two.key)
    tree_unit = job("unit", image="tree")
    tree: dict[PullKey, list[Presubmit]] = {key: [tree_unit, job("combo")]}
    batch = plan([one, two], BASE, stale, {}, 0, tree)
    assert batch.action == "batch"
    assert sorted(p.name for p in batch.jobs) == ["combo", "lint", "unit"]
    assert next(p for p in batch.jobs if p.name == "unit") is tree_unit  # what merges
    green = {name: Run(name, "success", BASE) for name in ("unit", "lint")}
    assert plan([one, two], BASE, stale, {key: green}, 0, tree).action != "merge-batch"
    green["combo"] = Run("combo", "success", BASE)
    assert plan([one, two], BASE, stale, {key: green}, 0, tree).action == "merge-batch"
    assert plan([one, two], BASE, stale, {key: green}, 0).action == "merge-batch"  # union
    green["combo"] = Run("combo", "failure", BASE)  # any failing run of the batch holds it
    assert plan([one, two], BASE, stale, {key: green}, 0).action != "merge-batch"
