"""Issue #4, end to end: GitHub webhooks into a running `foredeck serve`, real local pipelines
on a real git repository, and what GitHub (the contract-checked double) is told.

Each test starts its own server (SQLite unless said otherwise) with its own job config; steps
record what they did in files under `tmp_path`, which the tests read back.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controller.helpers import host_dir
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import (
    FINAL,
    STATUS_OF,
    GitRepo,
    Server,
    lines,
    report_comments,
    status_history,
    wait_for,
)
from tests.execute.helpers import processes_in
from tests.hook.plugins.trigger_env import ORG, REPO, comment_payload, pr_payload, push_payload

pytestmark = pytest.mark.timeout(120)


def step(script: str) -> dict[str, Any]:
    return {"containers": [{"image": "alpine", "command": ["sh", "-c", script]}]}


def presubmit(name: str, repo: GitRepo, script: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "always_run": True,
        "clone_uri": str(repo.path),
        "spec": step(script),
        **extra,
    }


def job_config(**sections: list[dict[str, Any]]) -> str:
    config: dict[str, Any] = {}
    for kind, jobs in sections.items():
        config[kind] = jobs if kind == "periodics" else {f"{ORG}/{REPO}": jobs}
    return yaml.safe_dump(config)


def open_pull(
    server: Server, gh: GitHubDouble, repo: GitRepo, number: int, files: dict[str, str | None]
) -> str:
    """Commit `files` on a topic branch, publish it as pull `number` and send `opened`."""
    branch = f"topic-{number}"
    repo.commit(branch, files, f"change {number}")
    head = repo.push_pull_head(number, branch)
    gh.add_pull(ORG, REPO, number, author="alice", head_sha=head, files=list(files))
    payload = pr_payload("opened", number, author="alice", head_sha=head, base_sha=repo.head())
    server.deliver("pull_request", payload)
    return head


def record(out: Path) -> str:
    """Shell that appends this run's identity to `out` (one line per run)."""
    return f'echo "$JOB_NAME $PROW_JOB_ID $BUILD_ID" >> {out}'


def runs_of(out: Path) -> Counter[str]:
    """How many times each job row (PROW_JOB_ID) ran a step."""
    return Counter(line.split()[1] for line in lines(out))


# --- 1 and 2: pull request opened, report, /retest ----------------------------------------------


def pass_and_flaky(repo: GitRepo, tmp_path: Path) -> tuple[str, Path, Path]:
    runs, fixed = host_dir(tmp_path) / "runs.txt", host_dir(tmp_path) / "fixed"
    config = job_config(
        presubmits=[
            presubmit("pass", repo, f"{record(runs)}; grep -q feature feature.txt"),
            presubmit("flaky", repo, f"{record(runs)}; test -f {fixed}"),
        ]
    )
    return config, runs, fixed


def test_pull_request_runs_presubmits_and_reports(
    db: Database, gh: GitHubDouble, repo: GitRepo, make_server: ServerFactory, tmp_path: Path
) -> None:
    config, runs, _ = pass_and_flaky(repo, tmp_path)
    server = make_server(db, config)
    head = open_pull(server, gh, repo, 1, {"feature.txt": "the feature\n"})

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


def test_retest_reruns_only_the_failed_job_and_removes_the_report(
    sqlite_db: Database,
    gh: GitHubDouble,
    repo: GitRepo,
    make_server: ServerFactory,
    tmp_path: Path,
) -> None:
    config, runs, fixed = pass_and_flaky(repo, tmp_path)
    server = make_server(sqlite_db, config)
    head = open_pull(server, gh, repo, 1, {"feature.txt": "the feature\n"})
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

    def rerun_reported() -> dict[str, list[str]] | None:
        history = status_history(gh, head)
        return history if history["flaky"][-1] == "success" else None

    history = wait_for("the rerun's success status", rerun_reported)
    flaky = history["flaky"]
    assert flaky[0] == "pending" and "failure" in flaky, flaky
    assert flaky.index("failure") < len(flaky) - 1, flaky
    assert history["pass"][-1] == "success"
    assert len(server.jobs(pr=1)) == 3


# --- 3: a new push aborts the old head's run ---------------------------------------------------


def test_new_push_aborts_the_old_run_and_reports_only_the_new_head(
    sqlite_db: Database,
    gh: GitHubDouble,
    repo: GitRepo,
    make_server: ServerFactory,
    tmp_path: Path,
) -> None:
    started = host_dir(tmp_path)
    # Slow while the tree has slow.txt: the old head hangs, the new head (without it) passes.
    script = f"if [ -f slow.txt ]; then touch {started}/$PULL_PULL_SHA; exec sleep 60; fi"
    server = make_server(sqlite_db, job_config(presubmits=[presubmit("slow", repo, script)]))
    old = open_pull(server, gh, repo, 1, {"slow.txt": "slow\n"})
    wait_for("the slow step to start", lambda: (started / old).exists())
    (running,) = server.jobs(pr=1)
    old_run = server.workdir / ".foredeck" / "runs" / str(running["id"])  # the default workdir
    assert running["state"] == "pending"

    new = repo.commit("topic-1", {"slow.txt": None}, "fast now")
    repo.push_pull_head(1, "topic-1")
    gh.pull(ORG, REPO, 1).head_sha = new
    payload = pr_payload("synchronize", 1, author="alice", head_sha=new, base_sha=repo.head())
    server.deliver("pull_request", payload)

    jobs = wait_for("both runs to finish", lambda: server.finished(2, pr=1))
    assert [j["state"] for j in jobs] == ["aborted", "success"]
    assert server.job(jobs[0]["id"])["pulls"][0]["sha"] == old
    assert server.job(jobs[1]["id"])["pulls"][0]["sha"] == new
    assert "superseded" in (jobs[0]["description"] or "")
    wait_for("the old step to be killed", lambda: not processes_in(old_run), timeout=30)

    def new_head_final() -> list[str] | None:
        states = status_history(gh, new).get("slow", ["pending"])
        return states if states[-1] != "pending" else None

    states = wait_for("the new head's final status", new_head_final)
    assert states[0] == "pending" and states[-1] == "success", states
    old_states = [s.state for s in gh.statuses(ORG, REPO, old)]
    assert set(old_states) <= {"pending"}, old_states
    assert report_comments(gh, 1) == []


# --- 4: push to the base branch runs the postsubmits ------------------------------------------


def test_push_runs_postsubmits_on_the_pushed_commit(
    sqlite_db: Database,
    gh: GitHubDouble,
    repo: GitRepo,
    make_server: ServerFactory,
    tmp_path: Path,
) -> None:
    built = host_dir(tmp_path) / "built.txt"
    postsubmit = {
        "name": "publish",
        "branches": ["^main$"],
        "clone_uri": str(repo.path),
        "spec": step(f"git rev-parse HEAD >> {built}"),
    }
    server = make_server(sqlite_db, job_config(postsubmits=[postsubmit]))
    pushed = repo.commit("main", {"CHANGELOG.md": "v2\n"}, "release")
    server.deliver("push", push_payload("refs/heads/main", pushed, pusher="alice"))

    (job,) = wait_for("the postsubmit", lambda: server.finished(1, type="postsubmit"))
    assert (job["name"], job["state"], job["base_ref"]) == ("publish", "success", "main")
    assert lines(built) == [pushed]

    def reported() -> dict[str, list[str]] | None:
        history = status_history(gh, pushed)
        return history if history.get("publish", ["pending"])[-1] != "pending" else None

    history = wait_for("the postsubmit's final status", reported)
    assert history["publish"][-1] == "success"
    assert set(history["publish"][:-1]) <= {"pending"}


# --- 5: periodics ------------------------------------------------------------------------------


def test_interval_periodic_fires_on_schedule(
    sqlite_db: Database, make_server: ServerFactory, tmp_path: Path
) -> None:
    ticks = host_dir(tmp_path) / "ticks.txt"
    periodic = {"name": "tick", "interval": "2s", "spec": step(record(ticks))}
    server = make_server(sqlite_db, job_config(periodics=[periodic]))

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


def test_sigkill_mid_run_then_restart_finishes_every_job_once(
    sqlite_db: Database,
    gh: GitHubDouble,
    repo: GitRepo,
    make_server: ServerFactory,
    tmp_path: Path,
) -> None:
    runs = host_dir(tmp_path) / "runs.txt"
    names = ["a", "b", "c", "d"]
    config = job_config(presubmits=[presubmit(n, repo, f"{record(runs)}; sleep 2") for n in names])
    server = make_server(sqlite_db, config, controller={"max_concurrency": 2})
    head = open_pull(server, gh, repo, 1, {"feature.txt": "x\n"})
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
        history = status_history(gh, head)
        latest = {context: h[-1] for context, h in history.items()}
        return latest == {j["name"]: STATUS_OF[j["state"]] for j in jobs}

    wait_for("statuses to match the final states", statuses_match)
