"""The reporter's own thread: polls, wakes on notify(), stops and closes its client."""

from __future__ import annotations

import time

from foredeck.report import Reporter
from foredeck.scm.github import GitHubClient
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.report.jobs import HEAD, ORG, PR, REPO, add, get, presubmit


def wait_for_success(gh: GitHubDouble, context: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(
        (s.context, s.state) == (context, "success") for s in gh.statuses(ORG, REPO, HEAD)
    ):
        assert time.monotonic() < deadline, f"no success status for {context} after {timeout}s"
        time.sleep(0.01)


def test_the_thread_reports_wakes_on_notify_and_closes_its_client(
    github_double: GitHubDouble, db: Database
) -> None:
    gh = github_double
    gh.add_repo(ORG, REPO)
    gh.add_pull(ORG, REPO, PR, head_sha=HEAD)
    clients: list[GitHubClient] = []

    def factory() -> GitHubClient:
        clients.append(gh.client())
        return clients[-1]

    # A poll interval far beyond the deadline: the second job is only seen because of notify().
    rep = Reporter(db.engine, factory, dashboard_url="http://dash", poll_interval=3600)
    first = add(db.engine, presubmit("unit"), "success")
    thread = rep.start()
    try:
        wait_for_success(gh, "unit")
        second = add(db.engine, presubmit("lint"), "success")
        rep.notify()
        wait_for_success(gh, "lint")
    finally:
        rep.stop(timeout=15)
    assert not thread.is_alive()
    # `lint` may have been seen while still triggered (add() moves it in a second commit): a
    # pending status may precede its success, never follow it.
    last = {s.context: s.state for s in gh.statuses(ORG, REPO, HEAD)}
    assert last == {"unit": "success", "lint": "success"}
    assert get(db.engine, first).reported_state == "success"
    assert get(db.engine, second).reported_state == "success"
    assert len(clients) == 1 and clients[0].is_closed
