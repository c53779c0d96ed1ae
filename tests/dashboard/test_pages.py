"""The list pages on real job rows (`create_job` + `set_state`), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from foredeck.dashboard import queries
from foredeck.dashboard.security import SECURITY_HEADERS
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import set_state
from foredeck.db.models import Job, JobState
from tests.dashboard.helpers import T0, XSS, client_for, make_job
from tests.db.fixtures import Database

ROW_ID = re.compile(r'<tr data-job-id="(\d+)"')
OLDER = re.compile(r'<a href="([^"]+)" rel="next"')


def ids(html: str) -> list[int]:
    return [int(x) for x in ROW_ID.findall(html)]


def assert_secure(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert "script-src 'self'" in response.headers["content-security-policy"]


def walk(client: TestClient, url: str) -> list[int]:
    """Every id on `url` and the pages its "older" links lead to."""
    seen: list[int] = []
    for _ in range(100):
        page = client.get(url)
        assert page.status_code == 200, page.text
        seen += ids(page.text)
        older = OLDER.search(page.text)
        if older is None:
            return seen
        url = older.group(1).replace("&amp;", "&")
    raise AssertionError("pagination does not end")


def test_job_list_is_newest_first_with_links_and_durations(db: Database) -> None:
    first = make_job(db, "unit", at=T0, runtime=timedelta(seconds=90))
    linked = make_job(
        db,
        "lint",
        at=T0 + timedelta(minutes=1),
        sha="c" * 40,
        links={
            "link": "https://git.example/acme/widget/pulls/7",
            "commit_link": "https://git.example/acme/widget/c",
        },
    )
    running = make_job(db, "e2e", state="pending", at=T0 + timedelta(minutes=2))
    periodic = make_job(db, "nightly", type="periodic", at=T0 + timedelta(minutes=3))
    with client_for(db) as client:
        page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert_secure(page)
    html = page.text
    assert ids(html) == [periodic, running, linked, first]
    assert f'href="/view/{first}"' in html and f'href="/view/{periodic}"' in html
    assert 'href="/job-history/unit"' in html
    # GitHub fallback links, from org/repo, for a job without links in its refs
    assert 'href="https://github.com/acme/widget/pull/7"' in html
    assert f'href="https://github.com/acme/widget/commit/{"b" * 40}"' in html
    # the refs' own links when they have them
    assert 'href="https://git.example/acme/widget/pulls/7"' in html
    assert 'href="https://git.example/acme/widget/c"' in html
    assert 'href="/pr-history/acme/widget/7"' in html
    assert ">1m30s<" in html
    # a running job: its start time is there for the live script to count from
    assert re.search(rf'data-job-id="{running}".*?data-started="2024-03-01T12:02:01Z" ', html, re.S)
    assert 'src="/static/joblist.js?v=' in html and 'href="/static/dashboard.css?v=' in html
    assert "<script>" not in html  # no inline script: the CSP would block it


def test_filters_select_the_matching_jobs(db: Database) -> None:
    a = make_job(db, "unit", author="alice", pr=1, state="success")
    b = make_job(db, "unit", author="bob", pr=2, state="failure")
    c = make_job(db, "lint", author="bob", pr=2, state="success", repo="gadget")
    d = make_job(db, "publish", type="postsubmit", state="error")
    e = make_job(db, "nightly", type="periodic", state="pending")
    cases = {
        "": [e, d, c, b, a],
        "?job=unit": [b, a],
        "?type=postsubmit": [d],
        "?state=success": [c, a],
        "?author=bob": [c, b],
        "?pr=2": [c, b],
        "?repo=acme/gadget": [c],
        "?repo=acme/widget&pr=2": [b],
        "?job=unit&state=failure&author=bob&type=presubmit": [b],
        "?job=&type=&state=&author=&pr=&repo=": [e, d, c, b, a],  # an empty form
        "?author=carol": [],
    }
    with client_for(db) as client:
        for query, expected in cases.items():
            page = client.get("/" + query)
            assert page.status_code == 200, (query, page.text)
            assert ids(page.text) == expected, query
            rows = client.get("/dashboard/rows.json" + query).json()["rows"]
            assert [row["id"] for row in rows] == expected, query
        # an author whose JSON spelling depends on the writer (non-ASCII) is still found
        accented = make_job(db, "unit", author="josé", pr=3)
        assert ids(client.get("/?author=josé").text) == [accented]
        # the form shows the filter in use
        assert 'value="bob"' in client.get("/?author=bob").text
        assert '<option value="failure" selected>' in client.get("/?state=failure").text
        for bad in ("?type=nope", "?state=done", "?pr=x", "?repo=noslash", "?after=-1"):
            page = client.get("/" + bad)
            assert page.status_code == 400, bad
            assert "Back to the job list" in page.text
            assert_secure(page)


def test_pagination_has_no_gaps_or_duplicates(db: Database) -> None:
    made = [
        make_job(db, "unit" if i % 3 else "lint", at=T0 + timedelta(seconds=i)) for i in range(23)
    ]
    with client_for(db) as client:
        assert walk(client, "/?limit=5") == sorted(made, reverse=True)
        units = sorted((j for i, j in enumerate(made) if i % 3), reverse=True)
        assert walk(client, "/?job=unit&limit=4") == units
        assert walk(client, "/job-history/unit?limit=4") == units
        # filters ordered by (created_at, id): ties on created_at do not lose or repeat a job
        same = [make_job(db, "tied", state="failure", at=T0) for _ in range(7)]
        assert walk(client, "/?job=tied&limit=3") == sorted(same, reverse=True)
        assert walk(client, "/?state=failure&limit=2") == sorted(same, reverse=True)
        # a page that ended with a job the sinker has removed since still continues
        with write_lock(db.engine), session_factory(db.engine).begin() as s:
            s.execute(delete(Job).where(Job.id == same[3]))
        rest = ids(client.get(f"/?job=tied&after={same[3]}").text)
        assert rest == sorted(same[:3], reverse=True)
        # a later page links back to the newest one
        page = client.get(f"/?limit=5&after={made[10]}").text
        assert ids(page) == sorted(made[5:10], reverse=True)
        assert 'rel="first"' in page and "data-live" not in page


def test_unindexed_filters_search_a_window_and_say_where_to_go_on(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "SCAN_WINDOW", 4)
    made = [make_job(db, "unit", author="bob" if i in (1, 2, 9) else "alice") for i in range(14)]
    bobs = [made[9], made[2], made[1]]
    with client_for(db) as client:
        assert walk(client, "/?author=bob&limit=2") == bobs
        assert walk(client, "/?author=bob") == bobs
        assert walk(client, "/?author=carol") == []
        # the newest window holds no bob: an empty page that says where to continue
        page = client.get("/?author=bob")
        assert ids(page.text) == [] and "Searched jobs down to" in page.text
        assert OLDER.search(page.text) is not None
        # the live rows poll the first window only
        rows = client.get("/dashboard/rows.json?author=bob").json()["rows"]
        assert [row["id"] for row in rows] == []
        # indexed filters are not windowed
        assert ids(client.get("/?job=unit&limit=20").text) == sorted(made, reverse=True)


def test_job_history_with_result_bar_and_duration_trend(db: Database) -> None:
    states: list[JobState] = ["success", "failure", "success", "pending", "error"]
    made = [
        make_job(
            db, "unit", state=s, at=T0 + timedelta(minutes=i), runtime=timedelta(seconds=10 * i)
        )
        for i, s in enumerate(states)
    ]
    make_job(db, "other", at=T0)
    with client_for(db) as client:
        page = client.get("/job-history/unit")
    assert page.status_code == 200
    assert_secure(page)
    html = page.text
    assert ids(html) == sorted(made, reverse=True)
    bar = re.search(r'<svg class="result-bar".*?</svg>', html, re.S)
    assert bar is not None
    cells = re.findall(r'<rect class="state-(\w+)"', bar.group(0))
    assert cells == states  # oldest first
    trend = re.search(r'<svg class="trend".*?</svg>', html, re.S)
    assert trend is not None
    dots = re.findall(r'<circle class="state-(\w+)"', trend.group(0))
    assert dots == ["success", "failure", "success", "error"]  # finished runs only
    assert "40s" in trend.group(0)  # the longest run labels the scale
    assert "2 of 4 finished runs" in html.replace("\n", " ")
    assert 'src="/badge.svg?job=unit"' in html


def test_pr_history_groups_runs_by_commit(db: Database) -> None:
    old1 = make_job(db, "unit", sha="1" * 40, at=T0)
    old2 = make_job(db, "lint", sha="1" * 40, at=T0 + timedelta(seconds=1))
    new1 = make_job(db, "unit", sha="2" * 40, at=T0 + timedelta(seconds=2))
    make_job(db, "unit", pr=8, sha="3" * 40)  # another PR
    make_job(db, "unit", repo="gadget", sha="4" * 40)  # same number, another repo
    with client_for(db) as client:
        page = client.get("/pr-history/acme/widget/7")
    assert page.status_code == 200
    assert_secure(page)
    groups = re.findall(
        r'<section class="commit-group" data-sha="(\w+)">(.*?)</section>', page.text, re.S
    )
    assert [(sha, ids(body)) for sha, body in groups] == [
        ("2" * 40, [new1]),
        ("1" * 40, [old2, old1]),
    ]
    assert 'href="https://github.com/acme/widget/pull/7"' in page.text


def test_unknown_job_and_pr_pages_are_404(db: Database) -> None:
    make_job(db, "unit")
    with client_for(db) as client:
        for url in ("/job-history/nope", "/pr-history/acme/widget/999", "/pr-history/x/y/7"):
            page = client.get(url)
            assert page.status_code == 404, url
            assert page.headers["content-type"].startswith("text/html")
            assert_secure(page)
        assert client.get("/job-history/unit?after=999999").status_code == 200  # past the end


def test_xss_in_names_descriptions_and_authors_is_shown_as_text(db: Database) -> None:
    job = make_job(db, XSS, author=XSS, description=XSS, state="failure")
    evil_link = make_job(
        db,
        "links",
        pr=8,
        links={"link": "javascript:alert(1)", "commit_link": "javascript:alert(2)"},
    )
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    with client_for(db) as client:
        pages = [
            client.get("/"),
            client.get(f"/?author={quote(XSS)}"),
            client.get(f"/job-history/{quote(XSS, safe='')}"),
            client.get("/pr-history/acme/widget/7"),
        ]
        for page in pages:
            assert page.status_code == 200, page.url
            assert "<script>alert" not in page.text and "<img src=x" not in page.text
            assert escaped in page.text, page.url
        assert job in ids(pages[1].text)
        listing = pages[0].text
        assert evil_link in ids(listing) and "javascript:" not in listing
        # the live rows carry the text as data; the script sets it with textContent
        rows = client.get("/dashboard/rows.json").json()["rows"]
        assert {row["name"] for row in rows} == {XSS, "links"}
        badge = client.get("/badge.svg", params={"job": XSS})
    assert badge.status_code == 200
    assert "<script>" not in badge.text
    svg = ET.fromstring(badge.text)  # well-formed: the name is escaped
    assert svg.find("{http://www.w3.org/2000/svg}title").text.startswith(XSS[:20])  # type: ignore[union-attr]


def test_badge_shows_the_latest_finished_state(db: Database) -> None:
    with client_for(db) as client:

        def status(name: str) -> str:
            response = client.get("/badge.svg", params={"job": name})
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("image/svg+xml")
            assert_secure(response)
            root = ET.fromstring(response.text)
            return [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")][-1] or ""

        assert status("unit") == "unknown"
        make_job(db, "unit", state="failure", at=T0)
        assert status("unit") == "failing"
        make_job(db, "unit", state="success", at=T0 + timedelta(minutes=1))
        assert status("unit") == "passing"
        make_job(db, "unit", state="pending", at=T0 + timedelta(minutes=2))  # not finished
        assert status("unit") == "passing"
        make_job(db, "unit", state="error", at=T0 + timedelta(minutes=3))
        assert status("unit") == "failing"
        make_job(db, "lint", state="aborted", at=T0)
        assert status("lint") == "unknown"
        assert client.get("/badge.svg").status_code == 400


def test_live_rows_follow_state_changes(db: Database) -> None:
    job = make_job(db, "e2e", state="pending")
    with client_for(db) as client:
        (row,) = client.get("/dashboard/rows.json").json()["rows"]
        assert (row["id"], row["state"], row["finished_iso"]) == (job, "pending", "")
        assert row["started_iso"] == "2024-03-01T12:00:01Z"
        assert row["view"] == f"/view/{job}" and row["pulls"] == [
            [7, "https://github.com/acme/widget/pull/7"]
        ]
        with write_lock(db.engine), session_factory(db.engine).begin() as s:
            set_state(s, job, "failure", description="boom", now=T0 + timedelta(seconds=61))
        newer = make_job(db, "unit")
        rows = client.get("/dashboard/rows.json").json()["rows"]
        assert [r["id"] for r in rows] == [newer, job]
        assert (rows[1]["state"], rows[1]["duration"], rows[1]["description"]) == (
            "failure",
            "1m00s",
            "boom",
        )
        response = client.get("/dashboard/rows.json")
        assert response.headers["cache-control"] == "no-store"
        assert_secure(response)


def test_reporter_links_redirect_to_the_pages(db: Database) -> None:
    with client_for(db) as client:
        page = client.get("/jobs/7", follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (307, "/view/7")
        page = client.get("/jobs?org=acme&repo=widget&pull=3", follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (307, "/pr-history/acme/widget/3")
        page = client.get("/jobs?org=acme&repo=widget", follow_redirects=False)
        assert page.headers["location"] == "/?repo=acme%2Fwidget"


def test_pr_history_grid_rows_jobs_columns_commits(db: Database) -> None:
    old_unit = make_job(db, "unit", sha="1" * 40, at=T0)
    make_job(db, "lint", sha="1" * 40, state="failure", at=T0 + timedelta(seconds=1))
    make_job(db, "unit", sha="2" * 40, state="failure", at=T0 + timedelta(seconds=2))
    rerun = make_job(db, "unit", sha="2" * 40, at=T0 + timedelta(seconds=3))
    with client_for(db) as client:
        page = client.get("/pr-history/acme/widget/7").text
    grid = page[page.index('id="pr-grid"') : page.index("</table>", page.index('id="pr-grid"'))]
    shas = re.findall(r'<th class="pr-commit" data-sha="(\w+)">', grid)
    assert shas == ["2" * 40, "1" * 40], "newest commit first"
    rows = dict(re.findall(r'<tr data-job="([^"]+)">(.*?)</tr>', grid, re.S))
    assert list(rows) == ["lint", "unit"]
    cells = re.findall(r'<td class="pr-cell[^"]*" data-state="(\w+)"', rows["lint"])
    assert cells == ["none", "failure"]
    unit = re.findall(
        r'<td class="pr-cell ([^"]*)" data-state="(\w+)" data-runs="(\d+)"><a href="/view/(\d+)"',
        rows["unit"],
    )
    assert unit == [
        ("state-success pr-flaky", "success", "2", str(rerun)),  # the latest run, and a count
        ("state-success", "success", "1", str(old_unit)),
    ]
    assert "\u00d72" in rows["unit"] and "flaky" in rows["unit"]
