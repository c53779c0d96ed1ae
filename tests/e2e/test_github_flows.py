"""GitHub flows end to end: webhooks into a running `foredeck serve`, real local pipelines on a
real git repository, and what GitHub (the contract-checked double) is told.

Each test starts its own server (SQLite unless said otherwise) with its own job config; steps
record what they did in files under the host directory, which the tests read back.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.db.fixtures import Database
from tests.e2e.harness import (
    E2E,
    STATUS_OF,
    final_statuses,
    job_config,
    lines,
    presubmit,
    report_comments,
    status_history,
)
from tests.execute.helpers import processes_in
from tests.hook.plugins.trigger_env import ORG, REPO, comment_payload, pr_payload, push_payload
from tests.kit.jobs import FINAL, shell
from tests.kit.wait import wait_for

pytestmark = pytest.mark.timeout(120)


def record(out: Path) -> str:
    """Shell that appends this run's identity to `out` (one line per run)."""
    return f'echo "$JOB_NAME $PROW_JOB_ID $BUILD_ID" >> {out}'


def runs_of(out: Path) -> Counter[str]:
    """How many times each job row (PROW_JOB_ID) ran a step."""
    return Counter(line.split()[1] for line in lines(out))


# --- 1 and 2: pull request opened, report, /retest ----------------------------------------------


def pass_and_flaky(e2e: E2E) -> tuple[str, Path, Path]:
    runs, fixed = e2e.host / "runs.txt", e2e.host / "fixed"
    config = job_config(
        presubmits=[
            presubmit("pass", e2e.repo, f"{record(runs)}; grep -q feature feature.txt"),
            presubmit("flaky", e2e.repo, f"{record(runs)}; test -f {fixed}"),
        ]
    )
    return config, runs, fixed


def test_pull_request_runs_presubmits_and_reports(db: Database, e2e: E2E) -> None:
    gh = e2e.gh
    config, runs, _ = pass_and_flaky(e2e)
    server = e2e.serve(config, db)
    head = e2e.open_pull(server, 1, {"feature.txt": "the feature\n"})

    jobs = wait_for("both presubmits to finish", lambda: server.finished(2, pr=1))
    assert {j["name"]: j["state"] for j in jobs} == {"pass": "success", "flaky": "failure"}
    assert sorted(runs_of(runs).values()) == [1, 1]

    def reported() -> dict[str, list[str]] | None:
        history = status_history(gh, head)
        done = {c: h for c, h in history.items() if h[-1] != "pending"}
        return history if len(done) == 2 and report_comments(gh, 1) else None

    history = wait_for("final statuses and the report comment", reported)
    for context, final in (("pass", "success"), ("flaky", "failure")):
        states = history[context]
        assert states[0] == "pending" and states[-1] == final, (context, states)
        assert set(states[:-1]) == {"pending"}, (context, states)
    assert {s.sha for s in gh.statuses(ORG, REPO)} == {head}
    (comment,) = report_comments(gh, 1)
    assert "`/test flaky`" in comment
    assert "`/test pass`" not in comment
    flaky = next(j for j in jobs if j["name"] == "flaky")
    assert f"/jobs/{flaky['id']}" in comment


def test_retest_reruns_only_the_failed_job_and_removes_the_report(e2e: E2E) -> None:
    gh = e2e.gh
    config, runs, fixed = pass_and_flaky(e2e)
    server = e2e.serve(config)
    head = e2e.open_pull(server, 1, {"feature.txt": "the feature\n"})
    wait_for("the report comment", lambda: report_comments(gh, 1))
    first = {j["name"]: j for j in server.jobs(pr=1)}
    assert first["flaky"]["state"] == "failure"

    fixed.touch()
    posted = gh.add_comment(ORG, REPO, 1, "/retest", author="alice")
    server.deliver(
        "issue_comment",
        comment_payload(1, "/retest", commenter="alice", author="alice", comment_id=posted.id),
    )

    jobs = wait_for("the rerun to finish", lambda: server.finished(3, pr=1))
    rerun = jobs[-1]
    assert (rerun["name"], rerun["state"]) == ("flaky", "success")
    assert [j["id"] for j in jobs[:2]] == sorted(j["id"] for j in first.values())
    counts = runs_of(runs)
    assert counts[str(first["pass"]["id"])] == 1, "the passing job ran again"
    assert counts[str(first["flaky"]["id"])] == counts[str(rerun["id"])] == 1
    assert server.job(rerun["id"])["trigger_reason"].startswith("/retest")

    wait_for("the report comment to be deleted", lambda: not report_comments(gh, 1))

    history = final_statuses(gh, head, "flaky", "success")
    flaky = history["flaky"]
    assert flaky[0] == "pending" and "failure" in flaky, flaky
    assert flaky.index("failure") < len(flaky) - 1, flaky
    assert history["pass"][-1] == "success"
    assert len(server.jobs(pr=1)) == 3


# --- 3: a new push aborts the old head's run ---------------------------------------------------


def test_new_push_aborts_the_old_run_and_reports_only_the_new_head(e2e: E2E) -> None:
    gh, repo, started = e2e.gh, e2e.repo, e2e.host
    # Slow while the tree has slow.txt: the old head hangs, the new head (without it) passes.
    script = f"if [ -f slow.txt ]; then touch {started}/$PULL_PULL_SHA; exec sleep 60; fi"
    server = e2e.serve(job_config(presubmits=[presubmit("slow", repo, script)]))
    old = e2e.open_pull(server, 1, {"slow.txt": "slow\n"})
    wait_for("the slow step to start", lambda: (started / old).exists())
    (running,) = server.jobs(pr=1)
    old_run = server.workdir / ".foredeck" / "runs" / str(running["id"])  # the default workdir
    assert running["state"] == "pending"

    new = repo.pull(1, {"slow.txt": None}, "fast now")
    gh.pull(ORG, REPO, 1).head_sha = new
    payload = pr_payload("synchronize", 1, author="alice", head_sha=new, base_sha=repo.head())
    server.deliver("pull_request", payload)

    jobs = wait_for("both runs to finish", lambda: server.finished(2, pr=1))
    assert [j["state"] for j in jobs] == ["aborted", "success"]
    assert server.job(jobs[0]["id"])["pulls"][0]["sha"] == old
    assert server.job(jobs[1]["id"])["pulls"][0]["sha"] == new
    assert "superseded" in (jobs[0]["description"] or "")
    wait_for("the old step to be killed", lambda: not processes_in(old_run), timeout=30)

    states = final_statuses(gh, new, "slow")["slow"]
    assert states[0] == "pending" and states[-1] == "success", states
    old_states = [s.state for s in gh.statuses(ORG, REPO, old)]
    assert set(old_states) <= {"pending"}, old_states
    assert report_comments(gh, 1) == []


# --- 4: push to the base branch runs the postsubmits ------------------------------------------


def test_push_runs_postsubmits_on_the_pushed_commit(e2e: E2E) -> None:
    built = e2e.host / "built.txt"
    postsubmit = {
        "name": "publish",
        "branches": ["^main$"],
        "clone_uri": str(e2e.repo.path),
        "spec": shell(f"git rev-parse HEAD >> {built}"),
    }
    server = e2e.serve(job_config(postsubmits=[postsubmit]))
    pushed = e2e.repo.commit("release", {"CHANGELOG.md": "v2\n"})
    server.deliver("push", push_payload("refs/heads/main", pushed, pusher="alice"))

    (job,) = wait_for("the postsubmit", lambda: server.finished(1, type="postsubmit"))
    assert (job["name"], job["state"], job["base_ref"]) == ("publish", "success", "main")
    assert lines(built) == [pushed]

    history = final_statuses(e2e.gh, pushed, "publish")
    assert history["publish"][-1] == "success"
    assert set(history["publish"][:-1]) <= {"pending"}


# --- 5: periodics ------------------------------------------------------------------------------


def test_interval_periodic_fires_on_schedule(e2e: E2E) -> None:
    ticks = e2e.host / "ticks.txt"
    periodic = {"name": "tick", "interval": "2s", "spec": shell(record(ticks))}
    server = e2e.serve(job_config(periodics=[periodic]))

    def two_done() -> list[dict[str, Any]] | None:
        done = [j for j in server.jobs(type="periodic") if j["state"] in FINAL]
        return done if len(done) >= 2 else None

    done = wait_for("two periodic runs", two_done, timeout=60)
    assert all((j["name"], j["state"]) == ("tick", "success") for j in done)
    first, second = (_created(j) for j in done[:2])
    assert 1.9 <= second - first < 15, second - first
    counts = runs_of(ticks)
    assert all(counts[str(j["id"])] == 1 for j in done)


def _created(job: dict[str, Any]) -> float:
    return datetime.fromisoformat(job["created_at"]).timestamp()


# --- 6: SIGKILL while jobs run, restart on the same database ------------------------------------


def test_sigkill_mid_run_then_restart_finishes_every_job_once(e2e: E2E) -> None:
    runs = e2e.host / "runs.txt"
    names = ["a", "b", "c", "d"]
    jobs_yaml = job_config(
        presubmits=[presubmit(n, e2e.repo, f"{record(runs)}; sleep 2") for n in names]
    )
    server = e2e.serve(jobs_yaml, controller={"max_concurrency": 2})
    head = e2e.open_pull(server, 1, {"feature.txt": "x\n"})
    wait_for("two jobs running", lambda: len(lines(runs)) >= 2)
    server.kill()
    started_before_kill = set(runs_of(runs))

    server.start()
    jobs = wait_for("every job to finish", lambda: server.finished(4, pr=1), timeout=60)
    counts = runs_of(runs)
    assert max(counts.values()) == 1, f"a job ran twice: {counts}"
    states = {str(j["id"]): j["state"] for j in jobs}
    for job_id, state in states.items():
        if state == "success":
            assert counts[job_id] == 1
        elif job_id in started_before_kill:
            assert state == "error", (job_id, state)
    # The second step had just started when the server died; the others ran after restart.
    assert {"error", "success"} <= set(states.values()), states

    def statuses_match() -> bool:
        history = status_history(e2e.gh, head)
        latest = {context: h[-1] for context, h in history.items()}
        return latest == {j["name"]: STATUS_OF[j["state"]] for j in jobs}

    wait_for("statuses to match the final states", statuses_match)
