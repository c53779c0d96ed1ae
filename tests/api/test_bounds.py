"""Integers the database cannot hold are refused as 422, never a 500 from the driver.

Python's int is unbounded; SQLite's and PostgreSQL's BIGINT stop at 2**63 - 1, and pull request
numbers are 32-bit INTEGERs on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import AUTH, app_for, presubmit, seed
from tests.db.fixtures import Database

MAX_BIGINT = 2**63 - 1  # SQLite's integers, PostgreSQL's BIGINT (job ids)
MAX_INT = 2**31 - 1  # PostgreSQL's INTEGER (pull request numbers)
TOO_BIG = [MAX_BIGINT + 1, 2**64, 10**40]


@pytest.fixture
def client(db: Database, tmp_path: Path) -> TestClient:
    seed(db, presubmit())
    return TestClient(app_for(db, tmp_path), raise_server_exceptions=False)


@pytest.mark.parametrize("job_id", [*TOO_BIG, 0, -1])
def test_job_ids_beyond_bigint_are_422(client: TestClient, job_id: int) -> None:
    for method, path in (
        ("GET", f"/api/jobs/{job_id}"),
        ("GET", f"/api/jobs/{job_id}/log"),
        ("POST", f"/api/jobs/{job_id}/rerun"),
        ("POST", f"/api/jobs/{job_id}/abort"),
    ):
        r = client.request(method, path, headers=AUTH)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        assert r.json()["detail"][0]["loc"] == ["path", "job_id"]


def test_the_largest_job_id_is_just_missing(client: TestClient) -> None:
    for method, path in (
        ("GET", f"/api/jobs/{MAX_BIGINT}"),
        ("GET", f"/api/jobs/{MAX_BIGINT}/log"),
        ("POST", f"/api/jobs/{MAX_BIGINT}/rerun"),
        ("POST", f"/api/jobs/{MAX_BIGINT}/abort"),
    ):
        assert client.request(method, path, headers=AUTH).status_code == 404, path


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"after": MAX_BIGINT + 1}, 422),
        ({"after": 2**64}, 422),
        ({"after": -1}, 422),
        ({"after": MAX_BIGINT}, 200),
        ({"pr": MAX_INT + 1}, 422),  # PostgreSQL's INTEGER
        ({"pr": 2**64}, 422),
        ({"pr": MAX_INT}, 200),
        ({"limit": 2**64}, 422),
    ],
)
def test_list_filters_beyond_the_columns_are_422(
    client: TestClient, params: dict[str, int], status: int
) -> None:
    r = client.get("/api/jobs", params=params)
    assert r.status_code == status, r.text


@pytest.mark.parametrize("number", [MAX_INT + 1, 2**64])
def test_pull_numbers_beyond_integer_are_422(client: TestClient, number: int) -> None:
    refs = {"org": "acme", "repo": "widget", "base_ref": "main"}
    for body in (
        {"name": "unit", "refs": refs, "pull": number},
        {"name": "unit", "refs": {**refs, "pulls": [{"number": number}]}},
    ):
        r = client.post("/api/jobs", json=body, headers=AUTH)
        assert r.status_code == 422, (body, r.text)
    comment = client.post(
        f"/api/repos/acme/widget/pulls/{number}/comments",
        json={"body": "/test unit", "author": "bob"},
        headers=AUTH,
    )
    assert comment.status_code == 422, comment.text
    assert len(client.get("/api/jobs").json()["jobs"]) == 1  # nothing was created


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        ("/api/jobs", "repo", "acme/wid\x00get"),
        ("/api/jobs", "job", "un\x00it"),
        ("/api/jobs", "author", "al\x00ice"),
        ("/api/leases", "type", "sl\x00ot"),
        ("/api/tokens", "user", "al\x00ice"),
        ("/api/audit", "actor", "al\x00ice"),
        ("/api/audit", "action", "token\x00"),
    ],
)
def test_a_nul_in_a_text_filter_is_422(
    client: TestClient, path: str, param: str, value: str
) -> None:
    """PostgreSQL's text cannot hold a NUL: the driver refused it (a 503, "the database could
    not answer"), where SQLite answered 200. Both refuse it as invalid input."""
    r = client.get(path, params={param: value}, headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", param]


@pytest.mark.parametrize(
    ("before", "status"), [(MAX_BIGINT + 1, 422), (2**64, 422), (MAX_BIGINT, 200)]
)
def test_the_audit_cursor_beyond_bigint_is_422(
    client: TestClient, before: int, status: int
) -> None:
    r = client.get("/api/audit", params={"before": before}, headers=AUTH)
    assert r.status_code == status, r.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/api/jobs",
            {"name": "unit", "refs": {"org": "acme", "repo": "widget", "base_ref": "ma\x00in"}},
        ),
        ("POST", "/api/jobs", {"name": "un\x00it"}),
        ("POST", "/api/leases", {"type": "db", "owner": "me\x00", "ttl": 60}),
        ("POST", "/api/tokens", {"name": "ci\x00", "role": "viewer", "user": "alice"}),
        ("POST", "/api/repos/acme/widget/pulls/1/comments", {"body": "/lgtm\x00"}),
    ],
)
def test_a_nul_in_a_request_body_is_422(
    client: TestClient, method: str, path: str, body: dict[str, object]
) -> None:
    """A NUL anywhere in a body's text (nested refs too) is refused as invalid input: the
    driver refused it on PostgreSQL (a 503 from `POST /api/jobs` with a NUL in
    `refs.base_ref`), and nothing is stored."""
    jobs = client.get("/api/jobs", headers=AUTH).json()["jobs"]
    r = client.request(method, path, json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert "NUL" in r.text
    assert client.get("/api/jobs", headers=AUTH).json()["jobs"] == jobs
