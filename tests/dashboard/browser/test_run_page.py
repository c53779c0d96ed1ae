"""The run page `/view/{id}` and its lenses in headless Chromium, on builds made by running real
jobs: build log (error highlight, jump, ANSI, folding, a `<script>` shown as text), JUnit,
metadata, artifacts (a `../` path refused), the pipeline graph's click-through to a task's log,
and the rerun and abort buttons."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.dashboard.browser.conftest import Shoot
from tests.dashboard.browser.harness import TOKEN, XSS, Jobs, Server

pytestmark = pytest.mark.timeout(180)


def sign_in(page: Page) -> None:
    """The dashboard's sign-in form, with the bootstrap token (an admin)."""
    page.goto("/login")
    page.locator("#login-token").fill(TOKEN)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator("#signed-in-as")).to_have_text("api-token")


def open_run(page: Page, job_id: int) -> None:
    response = page.goto(f"/view/{job_id}")
    assert response is not None and response.status == 200
    expect(page.locator("#run-state")).to_be_visible()


def test_build_log_error_highlight_and_jump(page: Page, runs: Jobs, shoot: Shoot) -> None:
    job_id = int(runs.failed["id"])
    open_run(page, job_id)
    log = page.locator("#lens-buildlog .log")
    errors = log.locator(".log-line.log-error")
    expect(errors).to_have_count(2)
    expect(errors.first).to_contain_text("ERROR: widget test failed")
    expect(errors.nth(1)).to_contain_text("FAIL widget")
    # ANSI colours became coloured spans: red for FAIL (green for the build line, folded).
    red = errors.nth(1).locator(".ansi-fg-31")
    expect(red).to_have_text("FAIL")
    assert red.evaluate(
        "s => getComputedStyle(s).color !== getComputedStyle(s.parentElement).color"
    ), "the ANSI span is not coloured"
    # The long passing stretch before the error is folded.
    fold = log.locator("details.log-fold").first
    expect(fold.locator("summary")).to_contain_text("show all")
    step_one = log.locator(".log-line", has_text=re.compile(r"\] step 1 ok$"))
    expect(step_one).to_be_hidden()
    shoot(page, "run-page-failed")

    page.evaluate("window.scrollTo(0, 0)")
    jump = page.locator("#lens-buildlog a.jump-error")
    expect(jump).to_have_text("jump to first error")
    first_id = errors.first.get_attribute("id")
    assert first_id, "error line without an anchor"
    assert jump.get_attribute("href") == f"#{first_id}"
    jump.click()
    expect(page).to_have_url(re.compile(rf"/view/{job_id}#{first_id}$"))
    expect(errors.first).to_be_in_viewport()
    shoot(page, "run-page-jumped-to-error")

    fold.locator("summary").click()
    expect(step_one).to_be_visible()
    expect(log.locator(".ansi-fg-32", has_text="compiling widget")).to_be_visible()


def test_xss_payload_in_log_is_text(page: Page, runs: Jobs, shoot: Shoot) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    open_run(page, int(runs.failed["id"]))
    line = page.locator("#lens-buildlog .log-line .lt", has_text=XSS)
    expect(line).to_have_count(1)
    expect(line).to_be_visible()
    expect(line).to_have_text(re.compile(re.escape(XSS) + "$"))
    assert page.locator("script", has_text="alert(1)").count() == 0
    # The raw log is served as plain text, never as HTML.
    response = page.goto(f"/view/{runs.failed['id']}/log")
    assert response is not None
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert XSS in page.locator("body").inner_text()
    assert dialogs == [], f"a dialog fired: {dialogs}"
    shoot(page, "raw-log-xss")


def test_failed_junit_test_shown(page: Page, runs: Jobs, shoot: Shoot) -> None:
    open_run(page, int(runs.failed["id"]))
    lens = page.locator("#lens-junit")
    expect(lens.locator(".junit-counts .junit-failed")).to_have_text("1 failed")
    expect(lens.locator(".junit-counts .junit-passed")).to_have_text("1 passed")
    cases = lens.locator("tr.junit-case")
    expect(cases).to_have_count(2)
    failed = cases.first
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.locator(".test-name")).to_have_text("widget.test_divides")
    expect(failed.locator(".test-message")).to_have_text("ZeroDivisionError: division by zero")
    expect(failed.locator(".test-output")).to_have_text("Traceback: divide(1, 0) blew up")
    expect(failed.locator(".test-output")).to_be_visible()
    expect(cases.nth(1).locator(".test-name")).to_have_text("widget.test_adds")
    lens.scroll_into_view_if_needed()
    shoot(page, "run-page-junit")


def test_metadata_lens(page: Page, runs: Jobs, shoot: Shoot) -> None:
    open_run(page, int(runs.failed["id"]))
    meta = page.locator("#lens-metadata table.meta")
    expect(meta.locator("tr", has_text="Result")).to_contain_text("FAILURE")
    expect(meta.locator("tr", has_text="Repository")).to_contain_text("acme/widget")
    expect(meta.locator("tr", has_text="Pull requests")).to_contain_text("#7 by alice")
    expect(meta.locator("tr", has_text="Commit")).to_contain_text(runs.heads[1])
    docs = page.locator("#lens-metadata details.json-doc summary").all_inner_texts()
    assert "started.json" in docs and "finished.json" in docs
    finished = page.locator("#lens-metadata details.json-doc", has_text="finished.json")
    finished.locator("summary").click()
    expect(finished.locator("pre")).to_contain_text('"result": "FAILURE"')


def test_artifacts_browser_and_parent_path_refused(
    page: Page, server: Server, runs: Jobs, shoot: Shoot
) -> None:
    job_id = int(runs.failed["id"])
    open_run(page, job_id)
    page.locator("#lens-artifacts a", has_text=re.compile(r"^artifacts/$")).click()
    expect(page.locator("h1")).to_have_text("artifacts")
    page.locator("ul.artifact-list a", has_text=re.compile(r"^test/$")).click()  # the task
    junit = page.locator("ul.artifact-list a", has_text="junit_1.xml")
    expect(junit).to_be_visible()
    shoot(page, "artifacts-browser")
    href = junit.get_attribute("href")
    assert href
    ok = page.request.get(href)
    assert ok.status == 200
    assert ok.headers["x-content-type-options"] == "nosniff"
    assert "test_divides" in ok.text()

    # The older run of the same job sits next to this one in the store: `../` must not reach it.
    older_build = server.job(int(runs.older_failed["id"]))["build_id"]
    assert older_build
    sibling = f"../{older_build}/build-log.txt"
    refused = page.request.get(f"/view/{job_id}/artifacts/{quote(sibling, safe='')}")
    assert refused.status == 400, refused.text()
    assert "step 1 ok" not in refused.text()
    for path in ("..%2F..%2F..%2F..%2Fetc%2Fpasswd", "artifacts%2F..%2F..%2F..%2Fforedeck.db"):
        refused = page.request.get(f"/view/{job_id}/artifacts/{path}")
        assert refused.status == 400, (path, refused.status)
    # Literal `../` is resolved by the URL parser before sending: it lands on no artifact.
    literal = page.request.get(f"/view/{job_id}/artifacts/../../../../etc/passwd")
    assert literal.status == 404
    assert "root:" not in literal.text()


def test_pipeline_graph_click_through(page: Page, runs: Jobs, shoot: Shoot) -> None:
    job_id = int(runs.pipeline["id"])
    assert runs.pipeline["state"] == "success"
    open_run(page, job_id)
    lens = page.locator("#lens-graph")
    graph = lens.locator("svg.pipeline-graph")
    expect(graph).to_be_visible()
    tasks = lens.locator("table.tasks tbody tr")
    expect(tasks).to_have_count(5)
    names = tasks.evaluate_all("rows => rows.map(r => r.dataset.task)")
    assert set(names) == {"prepare", "left", "right", "join", "cleanup"}
    for row in tasks.all():
        expect(row.locator("td").nth(1)).to_have_text("Succeeded")
    expect(lens.locator("tr[data-task=cleanup]")).to_contain_text("finally")
    # The diamond's four edges (finally tasks have none).
    expect(graph.locator("path.edge")).to_have_count(4)
    expect(graph.locator("a.task-link")).to_have_count(5)
    graph.scroll_into_view_if_needed()
    shoot(page, "run-page-pipeline")

    graph.locator("a.task-link", has_text="left").click()
    expect(page).to_have_url(re.compile(rf"/view/{job_id}/task/left$"))
    expect(page.locator("h1")).to_contain_text("left")
    expect(page.locator("#task-status")).to_have_text("Succeeded")
    expect(page.locator("#log .log")).to_contain_text("left branch says hello")
    expect(page.locator("#log .log")).not_to_contain_text("right branch says hello")
    shoot(page, "task-page-left")


def test_abort_button_stops_a_running_job(
    page: Page, server: Server, runs: Jobs, shoot: Shoot
) -> None:
    job_id = int(server.start_job("slow-job")["id"])
    server.state(job_id, {"pending"})
    confirms: list[str] = []

    def accept(dialog: Dialog) -> None:
        confirms.append(dialog.type)
        dialog.accept()

    page.on("dialog", accept)
    sign_in(page)
    open_run(page, job_id)
    expect(page.locator("#run-state")).to_have_text("pending")
    page.locator("button[data-action=abort]").click()
    expect(page.locator("#run-state")).to_have_text("aborted")
    assert confirms == ["confirm"]
    assert server.final(job_id)["state"] == "aborted"
    expect(page.locator("button[data-action=abort]")).to_have_count(0)
    shoot(page, "run-page-aborted")


def test_rerun_button_starts_a_new_run(
    page: Page, server: Server, runs: Jobs, shoot: Shoot
) -> None:
    job_id = int(runs.pipeline["id"])
    open_run(page, job_id)
    rerun = page.locator("button[data-action=rerun]")
    expect(rerun).to_have_count(0)  # nobody signed in may rerun: no button
    sign_in(page)
    open_run(page, job_id)
    rerun.click()
    expect(page).to_have_url(re.compile(rf"/view/(?!{job_id}$)\d+$"))
    new_id = int(page.url.rsplit("/", 1)[1])
    assert new_id > job_id
    expect(page.locator("h1")).to_contain_text("pipeline-job")
    assert server.final(new_id)["state"] == "success"
    shoot(page, "run-page-rerun")


def test_summary_shows_what_failed_first_and_links_to_the_error(
    page: Page, runs: Jobs, shoot: Shoot
) -> None:
    job_id = int(runs.failed["id"])
    open_run(page, job_id)
    summary = page.locator("section.lens").first
    expect(summary).to_have_id("lens-summary")
    expect(summary.locator("h2")).to_have_text("What failed")
    expect(summary).to_be_in_viewport()
    expect(summary.locator(".summary-tests li").first).to_be_visible()
    errors = summary.locator("a.summary-error")
    expect(errors.first).to_contain_text("ERROR: widget test failed")
    expect(summary.locator("script")).to_have_count(0)
    shoot(page, "run-page-summary")
    # A summary line opens its line in the build log, highlighted.
    errors.first.click()
    anchor = page.url.split("#", 1)[1]
    line = page.locator(f"#lens-buildlog [id='{anchor}']")
    expect(line).to_have_class(re.compile(r"log-error"))
    expect(line).to_be_in_viewport()


def test_running_job_page_refreshes_itself(
    page: Page, server: Server, runs: Jobs, shoot: Shoot
) -> None:
    job_id = int(server.start_job("slow-job")["id"])
    server.state(job_id, {"pending"})
    open_run(page, job_id)
    expect(page.locator("#run-state")).to_have_text("pending")
    page.evaluate("window.notReloaded = true")
    # No reload: view.js fetched the page again and swapped the state and the lenses in.
    expect(page.locator("#run-state")).to_have_text("success", timeout=60_000)
    expect(page.locator("#lens-buildlog .log")).to_contain_text("done")
    assert page.evaluate("window.notReloaded") is True
    assert page.locator(".run-head").get_attribute("data-refresh") is None
    shoot(page, "run-page-refreshed")


def test_a_fold_the_reader_opened_stays_open_as_the_page_refreshes(
    page: Page, server: Server, runs: Jobs, shoot: Shoot
) -> None:
    """The job runs until the test aborts it, so the fold is opened while it runs however busy
    the machine (`slow-job` once ended first under load)."""
    job_id = int(server.start_job("long-job")["id"])
    open_run(page, job_id)
    fold = page.locator("#lens-buildlog details.log-fold").first
    expect(fold).to_be_attached(timeout=60_000)  # the first 60 lines, while it sleeps
    expect(page.locator("#run-state")).not_to_have_text("success")
    fold.locator("summary").click()
    expect(fold).to_have_attribute("open", "")
    # A refresh swaps the lenses in while it runs, and the fold stays as it was left ...
    page.evaluate("document.getElementById('run-lenses').dataset.probe = 'before'")
    expect(page.locator("#run-lenses[data-probe]")).to_have_count(0, timeout=60_000)
    expect(page.locator("#lens-buildlog details.log-fold").first).to_have_attribute("open", "")
    # ... and so does the last one, when the run has ended.
    server.abort(job_id)
    expect(page.locator("#run-state")).to_have_text("aborted", timeout=60_000)
    expect(page.locator("#lens-buildlog .log")).to_contain_text("waiting")
    expect(page.locator("#lens-buildlog details.log-fold").first).to_have_attribute("open", "")
    shoot(page, "run-page-fold-kept")


def test_artifacts_lens_previews_inline(page: Page, runs: Jobs, shoot: Shoot) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    open_run(page, int(runs.failed["id"]))
    lens = page.locator("#lens-artifacts")
    text = lens.locator("figure.preview-text", has_text="notes.txt")
    expect(text.locator("pre")).to_have_text(f"coverage 81% {XSS}\n")
    expect(lens.locator("figure.preview-json pre")).to_contain_text('"failed": 1')
    image = lens.locator("figure.preview-image img")
    expect(image).to_have_count(1)
    image.scroll_into_view_if_needed()
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("i => i.naturalWidth") == 1, "the preview image did not load"
    junit = lens.locator("table.artifact-files tr", has_text="junit_1.xml")
    expect(junit.locator("td.size")).to_have_text(re.compile(r"^\d+ B$"))
    expect(lens.locator("figure", has_text="junit_1.xml")).to_have_count(0)
    shoot(page, "run-page-artifacts")
    assert dialogs == []
