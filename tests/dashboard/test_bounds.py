"""Integers the database cannot hold are a 400 page on the dashboard, never a 500.

Job ids and cursors are BIGINTs (at most 2**63 - 1), pull request numbers 32-bit INTEGERs on
PostgreSQL; byte offsets of the run page share the cursor's bound.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.helpers import client_for, make_job
from tests.db.fixtures import Database

MAX_BIGINT = 2**63 - 1
MAX_INT = 2**31 - 1


def client(db: Database, tmp_path: Path) -> TestClient:
    make_job(db)
    return client_for(db, artifacts={"url": str(tmp_path / "artifacts")})


@pytest.mark.parametrize(
    "path",
    [
        f"/?after={MAX_BIGINT + 1}",
        "/?after=-1",
        f"/?limit={2**64}",
        f"/dashboard/rows.json?after={2**64}",
        f"/dashboard/rows.json?limit={MAX_BIGINT + 1}",
        f"/job-history/unit?after={MAX_BIGINT + 1}",
        f"/job-history/unit?limit={2**64}",
        f"/pr-history/acme/widget/{MAX_INT + 1}",
        f"/pr-history/acme/widget/{2**64}",
        "/pr-history/acme/widget/0",
        f"/jobs/{MAX_BIGINT + 1}",
        "/jobs/0",
        f"/jobs?org=acme&repo=widget&pull={2**64}",
        f"/jobs?org=acme&repo=widget&pull={MAX_INT + 1}",
        f"/view/{MAX_BIGINT + 1}",
        f"/view/1?start={MAX_BIGINT + 1}",
        f"/view/1/log?end={2**64}",
        f"/view/1/task/t?find_error={2**64}",
        f"/view/1/artifacts/x?start={2**64}",
        "/?pr=%C2%B2",  # "²": a digit to str.isdigit, not to int()
        "/dashboard/rows.json?pr=%C2%B2",
    ],
)
def test_out_of_range_integers_are_400_pages(db: Database, tmp_path: Path, path: str) -> None:
    with client(db, tmp_path) as c:
        r = c.get(path, follow_redirects=False)
    assert r.status_code == 400, (path, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    assert "invalid parameter" in r.text or "pull request number" in r.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/?after={MAX_BIGINT}", 200),
        (f"/dashboard/rows.json?after={MAX_BIGINT}", 200),
        (f"/job-history/unit?after={MAX_BIGINT}", 200),
        (f"/pr-history/acme/widget/{MAX_INT}", 404),
        (f"/jobs/{MAX_BIGINT}", 307),
        (f"/jobs?org=acme&repo=widget&pull={MAX_INT}", 307),
        (f"/view/{MAX_BIGINT}", 404),
        (f"/view/1/log?start={MAX_BIGINT}&end={MAX_BIGINT}", 404),  # the job has no log
    ],
)
def test_the_largest_values_are_served(
    db: Database, tmp_path: Path, path: str, status: int
) -> None:
    with client(db, tmp_path) as c:
        r = c.get(path, follow_redirects=False)
    assert r.status_code == status, (path, r.text[:300])


@pytest.mark.parametrize(
    "path",
    [
        "/?job=un%00it",
        "/?author=al%00ice",
        "/?repo=acme/wid%00get",
        "/badge.svg?job=un%00it",
        "/jobs?org=ac%00me&repo=widget&pull=1",
        "/job-history/un%00it",
        "/pr-history/acme/wid%00get/1",
        "/dashboard/rows.json?job=%00",
        "/view/1?un%00known=1",
    ],
)
def test_a_nul_in_the_address_is_a_400_page(db: Database, tmp_path: Path, path: str) -> None:
    """PostgreSQL's text cannot hold a NUL: these answered 500 there (the driver refused the
    query) and 200 on SQLite. Every page refuses it before reading anything."""
    with client(db, tmp_path) as c:
        r = c.get(path, follow_redirects=False)
    assert r.status_code == 400, (path, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    assert "NUL character" in r.text
