"""Test grids, flakes and the PR history grid in headless Chromium, on runs of a real
`foredeck serve`: `flaky-job` rerun on one commit until it failed and passed there (its test
`widget.test_racy` fails on odd job ids), `fail-job`'s JUnit file, pull request 7's two heads."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.browser.conftest import Shoot
from tests.dashboard.browser.harness import ORG, PR, REPO, SIG, Jobs, Server

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def flaky(server: Server, runs: Jobs) -> list[dict[str, Any]]:
    """The runs of `flaky-job` on one commit, oldest first; the newest failed."""
    return server.flaky_runs()


def all_flaky_runs(server: Server) -> list[dict[str, Any]]:
    """Every run of `flaky-job`, oldest first: the push of `main` may have started one too."""
    return [j for j in server.jobs(job="flaky-job") if j["state"] in ("success", "failure")]


def statuses(page: Page, selector: str) -> list[str]:
    found: list[str] = page.locator(selector).evaluate_all("cs => cs.map(c => c.dataset.status)")
    return found


def test_pr_history_is_a_grid_of_jobs_by_commit(
    page: Page, server: Server, runs: Jobs, shoot: Shoot
) -> None:
    page.goto(f"/pr-history/{ORG}/{REPO}/{PR}")
    grid = page.locator("#pr-grid")
    shas = grid.locator("th.pr-commit").evaluate_all("ths => ths.map(t => t.dataset.sha)")
    assert shas == list(reversed(runs.heads)), "newest commit left"
    rows = grid.locator("tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.job)") == ["fail-job", "pass-job"]
    failed = grid.locator("tr[data-job=fail-job] td.pr-cell")
    assert failed.evaluate_all("cs => cs.map(c => c.dataset.state)") == ["failure", "failure"]
    expect(failed.first).to_have_css("background-color", "rgb(207, 34, 46)")
    shoot(page, "pr-history-grid")

    # A rerun of pass-job on the head: its cell shows the newest run and the count.
    rerun = server.api_post(f"/api/jobs/{runs.passed['id']}/rerun")
    server.final(int(rerun["id"]))
    page.reload()
    cell = grid.locator("tr[data-job=pass-job] td.pr-cell").first
    expect(cell).to_have_attribute("data-runs", "2")
    expect(cell.locator(".pr-runs")).to_have_text("\u00d72")
    cell.locator("a").click()
    expect(page).to_have_url(re.compile(rf"/view/{rerun['id']}$"))


def test_job_test_grid_sorted_by_flakiness(
    page: Page, flaky: list[dict[str, Any]], shoot: Shoot
) -> None:
    page.goto("/job-tests/flaky-job")
    tests = page.locator("#test-grid tr.grid-row")
    expect(tests).to_have_count(2)
    assert tests.evaluate_all("rs => rs.map(r => r.dataset.test)") == [
        "widget.test_racy",  # the most failures first
        "widget.test_stable",
    ]
    heads = page.locator("#test-grid th.grid-run")
    ids = heads.evaluate_all("hs => hs.map(h => Number(h.dataset.jobId))")
    assert ids[: len(flaky)] == [int(r["id"]) for r in reversed(flaky)], "newest run left"
    racy = statuses(page, "#test-grid tr[data-test='widget.test_racy'] td.cell")
    expected = ["failed" if r["state"] == "failure" else "passed" for r in reversed(flaky)]
    assert racy[: len(flaky)] == expected
    assert set(statuses(page, "#test-grid tr[data-test='widget.test_stable'] td.cell")) == {
        "passed"
    }
    expect(page.locator("#test-grid th.run-flaky").first).to_be_visible()
    failed_cell = page.locator("#test-grid tr[data-test='widget.test_racy'] td.cell-failed")
    expect(failed_cell.first).to_have_css("background-color", "rgb(207, 34, 46)")
    shoot(page, "test-grid-job")

    page.locator(".grid-sort a[data-sort=name]").click()
    expect(page.locator(".grid-sort strong")).to_have_text("name")
    expect(tests.first).to_have_attribute("data-test", "widget.test_racy")
    page.locator(".grid-sort a[data-sort=flakiness]").click()
    expect(tests.first).to_have_attribute("data-test", "widget.test_racy")
    expect(tests.first.locator(".grid-flakes")).to_have_text("1")
    page.locator("#test-grid th.grid-run a").first.click()
    expect(page).to_have_url(re.compile(rf"/view/{flaky[-1]['id']}$"))


def test_dashboard_group_from_annotations(
    page: Page, flaky: list[dict[str, Any]], shoot: Shoot
) -> None:
    page.goto("/testgrid")
    names = page.locator("#dashboards a").all_inner_texts()
    assert names == ["widget-flakes", SIG]  # by name
    page.locator("#dashboards a", has_text=SIG).click()
    expect(page.locator("h1")).to_have_text(f"Dashboard: {SIG}")
    tabs = page.locator("section.grid-tab")
    assert tabs.evaluate_all("ts => ts.map(t => t.dataset.tab)") == ["flaky-job", "widget-fail"]
    fail_tab = page.locator("section.grid-tab[data-tab=widget-fail]")
    expect(fail_tab.locator("h2 small").first).to_have_text("fail-job")
    divides = fail_tab.locator("tr[data-test='widget.test_divides'] td.cell")
    assert set(divides.evaluate_all("cs => cs.map(c => c.dataset.status)")) == {"failed"}
    shoot(page, "test-grid-dashboard")
    fail_tab.locator("h2 a").click()
    expect(page).to_have_url(re.compile(r"/job-tests/fail-job$"))


def test_flaky_tests_page(
    page: Page, server: Server, flaky: list[dict[str, Any]], shoot: Shoot
) -> None:
    page.goto("/")
    page.locator(".topbar a", has_text="Flakes").click()
    expect(page.locator("h1")).to_contain_text("Flaky tests")
    row = page.locator("#flaky-tests tbody tr").first
    expect(row).to_have_attribute("data-test", "widget.test_racy")
    expect(row).to_have_attribute("data-job", "flaky-job")
    runs = len(all_flaky_runs(server))  # one flake (one commit) in all its runs
    expect(row.locator(".flake-rate")).to_have_text(f"{100 / runs:.1f}%")
    expect(page.locator("#flaky-jobs tbody tr[data-job=flaky-job]")).to_be_visible()
    expect(page.locator("#flaky-tests tr[data-test='widget.test_divides']")).to_have_count(0)
    shoot(page, "flaky-tests")


def test_a_failure_of_a_known_flake_is_marked(
    page: Page, server: Server, runs: Jobs, flaky: list[dict[str, Any]], shoot: Shoot
) -> None:
    newest = int(flaky[-1]["id"])
    page.goto(f"/view/{newest}")
    note = page.locator("#flake-note")
    expect(note).to_contain_text("Known flake")
    expect(note).to_contain_text("widget.test_racy")
    expect(note.locator("#flaky-run")).to_be_visible()
    shoot(page, "run-page-known-flake")
    detail = server.job(newest)["flakes"]
    assert detail == {
        "flaky": True,
        "known_flake": True,
        "failed_tests": ["widget.test_racy"],
        "known_flaky_tests": ["widget.test_racy"],
    }
    # A real failure is not a flake: fail-job's test never passed.
    page.goto(f"/view/{runs.failed['id']}")
    expect(page.locator("#run-state")).to_have_text("failure")
    expect(page.locator("#flake-note")).to_have_count(0)
    assert server.job(int(runs.failed["id"]))["flakes"]["known_flake"] is False


def test_duration_trend_has_axes(
    page: Page, server: Server, flaky: list[dict[str, Any]], shoot: Shoot
) -> None:
    every = all_flaky_runs(server)
    page.goto("/job-history/flaky-job")
    trend = page.locator("svg.trend")
    expect(trend).to_be_visible()
    y_labels = trend.locator("text.y-label").all_text_contents()
    assert y_labels[0] == "0s" and len(y_labels) >= 2
    x_labels = trend.locator("text.x-label").all_text_contents()
    assert x_labels[0] == f"#{every[0]['id']}" and x_labels[-1] == f"#{flaky[-1]['id']}"
    expect(trend.locator("circle")).to_have_count(len(every))
    trend.scroll_into_view_if_needed()
    shoot(page, "job-history-duration-axes")
    page.locator("#test-grid-link").click()
    expect(page).to_have_url(re.compile(r"/job-tests/flaky-job$"))
