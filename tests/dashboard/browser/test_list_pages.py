"""The list pages in headless Chromium: the job list (filters, live updates), job history, PR
history and the badge, on runs made by a real `foredeck serve`."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.browser.conftest import Shoot
from tests.dashboard.browser.harness import ORG, PR, REPO, Jobs, Server
from tests.kit.wait import wait_for

pytestmark = pytest.mark.timeout(180)


def row_names(page: Page) -> list[str]:
    return page.locator("#jobs tbody tr[data-job-id] td.col-name").all_inner_texts()


def test_job_list_filter(page: Page, runs: Jobs, shoot: Shoot) -> None:
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Jobs")
    names = set(row_names(page))
    assert {"pass-job", "fail-job", "pipeline-job"} <= names
    ids = [
        int(i)
        for i in page.locator("#jobs tbody tr[data-job-id]").evaluate_all(
            "rows => rows.map(r => r.dataset.jobId)"
        )
    ]
    assert ids == sorted(ids, reverse=True), "newest first"

    form = page.locator("form.filters")
    form.locator("input[name=job]").fill("fail-job")
    form.locator("select[name=state]").select_option("failure")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"job=fail-job"))
    assert "state=failure" in page.url
    rows = page.locator("#jobs tbody tr[data-job-id]")
    expect(rows).to_have_count(2)
    assert row_names(page) == ["fail-job", "fail-job"]
    shown = {int(i) for i in rows.evaluate_all("rows => rows.map(r => r.dataset.jobId)")}
    assert shown == {int(runs.failed["id"]), int(runs.older_failed["id"])}
    expect(rows.first.locator("td.col-author")).to_have_text("alice")
    expect(rows.first.locator("td.col-pr")).to_contain_text(f"#{PR}")
    shoot(page, "job-list-filtered")

    # The author filter runs in SQL on the pull's author; nobody else opened a pull request.
    page.goto("/?author=mallory")
    expect(page.locator("#jobs tbody tr.empty")).to_have_text("No jobs match.")


def test_job_list_live_update(page: Page, server: Server, runs: Jobs, shoot: Shoot) -> None:
    """A running job's row turns from pending to success while the page stays loaded."""
    job_id = int(server.start_job("slow-job")["id"])
    server.state(job_id, {"pending"})
    page.goto("/?job=slow-job")
    row = page.locator(f"#jobs tbody tr[data-job-id='{job_id}']")
    expect(row.locator("[data-field=state]")).to_have_text("pending")
    page.evaluate("window.__notReloaded = true")
    shoot(page, "job-list-live-pending")
    expect(row.locator("[data-field=state]")).to_have_text("success", timeout=45_000)
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    assert server.job(job_id)["state"] == "success"
    # The server's duration once finished, to a tenth of a second under a minute.
    expect(row.locator("td.col-duration")).to_have_text(re.compile(r"^\d+(\.\d)?s$"))
    shoot(page, "job-list-live-success")


def test_job_history(page: Page, runs: Jobs, shoot: Shoot) -> None:
    page.goto("/job-history/fail-job")
    expect(page.locator("h1 .job-name")).to_have_text("fail-job")
    rows = page.locator("#jobs tbody tr[data-job-id]")
    expect(rows).to_have_count(2)
    states = rows.locator("[data-field=state]").all_inner_texts()
    assert states == ["failure", "failure"]
    expect(page.locator("section.charts h2 small")).to_have_text(
        "0 of 2 finished runs on this page passed"
    )
    expect(page.locator("section.charts svg").first).to_be_visible()
    badge = page.locator("img.badge")
    expect(badge).to_be_visible()
    assert badge.evaluate("img => img.complete && img.naturalWidth > 0"), "badge did not load"
    shoot(page, "job-history")

    page.locator("#jobs tbody tr[data-job-id] td.col-id a").first.click()
    expect(page).to_have_url(re.compile(rf"/view/{runs.failed['id']}$"))


def test_pr_history(page: Page, runs: Jobs, shoot: Shoot) -> None:
    page.goto(f"/pr-history/{ORG}/{REPO}/{PR}")
    expect(page.locator("h1")).to_contain_text(f"{ORG}/{REPO}#{PR}")
    expect(page.locator("p.pr-author")).to_have_text("by alice")
    groups = page.locator("section.commit-group")
    expect(groups).to_have_count(2)
    shas = groups.evaluate_all("gs => gs.map(g => g.dataset.sha)")
    assert shas == list(reversed(runs.heads)), "newest commit first"
    for i in range(2):
        names = groups.nth(i).locator("td.col-name").all_inner_texts()
        assert sorted(names) == ["fail-job", "pass-job"]
    shoot(page, "pr-history")


def test_pr_page_shows_commit_statuses_and_report_comment(
    page: Page, runs: Jobs, shoot: Shoot
) -> None:
    """The reporter of the running server set the statuses and wrote the report comment through
    the local SCM provider; the pull request's page shows them."""
    head = runs.heads[-1]

    def reported() -> bool | None:
        page.goto(f"/pr-history/{ORG}/{REPO}/{PR}")
        group = page.locator(f"section.commit-group[data-sha='{head}']")
        done = group.locator("li.commit-status:not([data-state=pending])").count() == 2
        return (done and page.locator("article.report-comment").count() == 1) or None

    wait_for("the reporter's statuses and comment", reported, timeout=60, interval=0.5)
    group = page.locator(f"section.commit-group[data-sha='{head}']")
    states = group.locator("li.commit-status").evaluate_all(
        "ls => ls.map(l => l.dataset.context + ':' + l.dataset.state)"
    )
    assert sorted(states) == ["fail-job:failure", "pass-job:success"]
    report = page.locator("article.report-comment")
    expect(report.locator(".comment-body")).to_contain_text("fail-job")
    expect(report.locator(".comment-body")).not_to_contain_text("pass-job")
    shoot(page, "pr-page-statuses-report")


def test_badge(page: Page, runs: Jobs, shoot: Shoot) -> None:
    cases = (("pass-job", "passing"), ("fail-job", "failing"), ("nope", "unknown"))
    for job, status in cases:
        response = page.goto(f"/badge.svg?job={job}")
        assert response is not None and response.status == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        expect(page.locator("svg title")).to_have_text(f"{job}: {status}")
        shoot(page, f"badge-{job}")
