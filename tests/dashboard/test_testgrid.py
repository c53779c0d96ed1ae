"""The test grid, dashboard and flakes pages (`dashboard/testgrid.py`) on runs recorded as the
controller records them (`make_job(..., cases=...)`), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from foredeck.db.models import JobState
from tests.dashboard.helpers import T0, XSS, client_for, make_job
from tests.db.fixtures import Database

TABS = {"annotations": {"testgrid-dashboards": "sig-a, sig-b", "testgrid-tab-name": "unit-tab"}}


def _table(text: str, table_id: str) -> str:
    start = text.find(f'id="{table_id}"')
    assert start >= 0, f"no #{table_id} in {text[:300]}"
    return text[start : text.index("</table>", start)]


def _grid(text: str, grid_id: str = "test-grid") -> dict[str, list[str]]:
    """Test name -> the statuses of its cells, newest run first."""
    rows = re.findall(
        r'<tr class="grid-row" data-test="([^"]*)">(.*?)</tr>', _table(text, grid_id), re.S
    )
    return {
        unescape(name): re.findall(r'<td class="cell[^"]*" data-status="(\w+)"', body)
        for name, body in rows
    }


def _runs(text: str, grid_id: str = "test-grid") -> list[tuple[int, bool]]:
    """(job id, on a flaky commit) of the grid's columns."""
    found = re.findall(
        r'<th class="grid-run run-\w+( run-flaky)?" data-job-id="(\d+)"', _table(text, grid_id)
    )
    return [(int(job_id), bool(flaky)) for flaky, job_id in found]


def _link(text: str, css_class: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)"[^>]*class="{css_class}"', text)
    return unescape(found.group(1)) if found else None


def _attrs(text: str, table_id: str, attr: str) -> list[str]:
    return [unescape(v) for v in re.findall(rf'<tr[^>]* {attr}="([^"]*)"', _table(text, table_id))]


def _fill(db: Database) -> list[int]:
    """Five runs of `unit` (oldest first): the job fails and passes on commit b, `t.flaky` too;
    `t.broken` fails in every run (a made-up record), `t.ok` passes, `t.new` is skipped in the
    newest."""
    ids = []
    runs: list[tuple[JobState, str, str]] = [
        ("failure", "b", "failed"),
        ("success", "b", "passed"),
        ("failure", "c", "passed"),
        ("failure", "d", "failed"),
        ("failure", "e", "passed"),
    ]
    for n, (state, sha, flaky) in enumerate(runs):
        cases = {"t.flaky": flaky, "t.broken": "failed", "t.ok": "passed"}
        if n == 4:
            cases["t.new"] = "skipped"
        ids.append(
            make_job(
                db,
                "unit",
                state=state,
                sha=sha * 40,
                at=T0 + timedelta(minutes=n),
                job_config=TABS,
                cases=cases,
            )
        )
    return ids


def test_grid_rows_columns_and_cells(db: Database) -> None:
    ids = _fill(db)
    with client_for(db) as client:
        page = client.get("/job-tests/unit")
        assert page.status_code == 200, page.text
        grid = _grid(page.text)
        assert list(grid) == ["t.broken", "t.flaky", "t.ok"], "most failures first"
        assert grid["t.broken"] == ["failed"] * 5
        assert grid["t.flaky"] == ["passed", "failed", "passed", "passed", "failed"]
        runs = _runs(page.text)
        assert [job_id for job_id, _ in runs] == ids[::-1], "newest left"
        assert {job_id for job_id, flaky in runs if flaky} == {ids[0], ids[1]}
        assert f'<a href="/view/{ids[-1]}"' in page.text
        assert next(iter(_grid(client.get("/job-tests/unit?sort=flakiness").text))) == "t.flaky"
        by_name = _grid(client.get("/job-tests/unit?sort=name").text)
        assert list(by_name) == ["t.broken", "t.flaky", "t.ok"]
        assert re.search(r'id="job-flake-rate">1 flaky commit in 5 runs', page.text)


def test_grid_pages_of_runs_and_tests(db: Database) -> None:
    ids = _fill(db)
    with client_for(db) as client:
        first = client.get("/job-tests/unit?columns=2&rows=2")
        assert [job_id for job_id, _ in _runs(first.text)] == [ids[4], ids[3]]
        assert len(_grid(first.text)) == 2
        older = _link(first.text, "older")
        assert older is not None
        second = client.get(older)
        assert [job_id for job_id, _ in _runs(second.text)] == [ids[2], ids[1]]
        more = _link(first.text, "more-tests")
        assert more is not None
        assert list(_grid(client.get(more).text)) == ["t.ok"]


def test_dashboards_from_annotations(db: Database) -> None:
    _fill(db)
    make_job(db, "other", cases={"x": "passed"})
    with client_for(db) as client:
        index = client.get("/testgrid").text
        assert re.findall(r'<a href="/testgrid/([^"]+)">', index) == ["sig-a", "sig-b"]
        page = client.get("/testgrid/sig-a")
        assert page.status_code == 200
        tabs = re.findall(r'class="grid-tab" data-tab="([^"]+)" data-job="([^"]+)"', page.text)
        assert tabs == [("unit-tab", "unit")]
        assert list(_grid(page.text, "grid-1")) == ["t.broken", "t.flaky", "t.ok"]
        assert client.get("/testgrid/nothing").status_code == 404


def test_flakes_page(db: Database) -> None:
    _fill(db)
    with client_for(db) as client:
        page = client.get("/flakes?days=3650").text
        assert _attrs(page, "flaky-tests", "data-test") == ["t.flaky"]
        assert re.search(r'class="flake-rate">20.0%<', _table(page, "flaky-tests"))
        assert _attrs(page, "flaky-jobs", "data-job") == ["unit"]
        recent = client.get("/flakes").text  # T0 is long before the default window
        assert 'id="no-flaky-tests"' in recent
        assert client.get("/flakes?days=0").status_code == 400


def test_test_names_are_text_and_parameters_checked(db: Database) -> None:
    make_job(db, "unit", state="failure", cases={XSS: "failed"})
    with client_for(db) as client:
        page = client.get("/job-tests/unit")
        assert XSS not in page.text and "&lt;script&gt;" in page.text
        assert client.get("/job-tests/unit?sort=nope").status_code == 400
        assert client.get("/job-tests/unit?columns=0").status_code == 400
        assert client.get(f"/job-tests/unit?before={2**63}").status_code == 400
        assert client.get("/job-tests/none").status_code == 404
        make_job(db, "empty")
        empty = client.get("/job-tests/empty")
        assert empty.status_code == 200 and 'id="no-results"' in empty.text


def test_run_page_marks_a_known_flake_and_a_flaky_run(db: Database) -> None:
    ids = _fill(db)
    only_flaky = make_job(db, "unit", state="failure", sha="f" * 40, cases={"t.flaky": "failed"})
    mixed = make_job(
        db, "unit", state="failure", sha="9" * 40, cases={"t.flaky": "failed", "t.new": "failed"}
    )
    with client_for(db) as client:
        known = client.get(f"/view/{only_flaky}").text
        assert 'class="flake-note known-flake"' in known and "t.flaky" in known
        assert 'id="flaky-run"' not in known
        flaky_run = client.get(f"/view/{ids[0]}").text
        assert 'id="flaky-run"' in flaky_run
        partly = client.get(f"/view/{mixed}").text
        assert "known-flake" not in partly
        assert "Failing tests known to flake: t.flaky; the others did not." in partly
        assert 'id="flake-note"' not in client.get(f"/view/{ids[2]}").text
