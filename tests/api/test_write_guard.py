"""Who may change state through `/api`: the token, anonymous writes, origins and content types.

A page on another site can make a browser send a `<form>` POST (urlencoded, multipart or
text/plain, no CORS preflight) or a body-less `fetch(..., {mode: "no-cors"})` to the server;
none of these may start, rerun or abort a job, whatever the settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from foredeck.db import Job, session_factory
from tests.api.helpers import AUTH, TOKEN, app_for, client_for, finish, presubmit, seed
from tests.db.fixtures import Database

EVIL = "https://evil.example"
OWN = "http://testserver"  # the TestClient's own origin (scheme + Host)
FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"]


def jobs_in_db(db: Database) -> list[tuple[int, str]]:
    with session_factory(db.engine)() as session:
        rows = session.execute(select(Job.id, Job.state).order_by(Job.id)).all()
    return [(row.id, row.state) for row in rows]


def write_paths(job_id: int) -> list[str]:
    return [f"/api/jobs/{job_id}/abort", f"/api/jobs/{job_id}/rerun", "/api/jobs"]


@pytest.mark.parametrize(
    ("token", "anonymous_writes"),
    [(None, False), (None, True), (TOKEN, False)],
    ids=["no-token", "anonymous-writes", "token"],  # no token: the old default, writes were open
)
@pytest.mark.parametrize("content_type", FORM_TYPES)
def test_a_cross_site_form_post_changes_nothing(
    db: Database, tmp_path: Path, token: str | None, anonymous_writes: bool, content_type: str
) -> None:
    (job_id,) = seed(db, presubmit())
    before = jobs_in_db(db)
    extra = {"anonymous_writes": True} if anonymous_writes else {}
    with client_for(db, tmp_path, token=token, **extra) as client:
        for path in write_paths(job_id):
            for body in (b"name=nightly", b""):
                headers = {"Origin": EVIL, "Content-Type": content_type}
                r = client.post(path, content=body, headers=headers)
                assert r.status_code == 403, (path, body, r.text)
                assert EVIL in r.json()["detail"]
                # A browser that sends no Origin still marks the request cross-site ...
                fetch = {"Sec-Fetch-Site": "cross-site", "Content-Type": content_type}
                assert client.post(path, content=body, headers=fetch).status_code == 403
                # ... and a form's content type is refused whatever the headers.
                bare = client.post(path, content=body, headers={"Content-Type": content_type})
                assert bare.status_code == 415, (path, r.text)
                assert "application/json" in bare.json()["detail"]
            # `fetch(url, {method: "POST", mode: "no-cors"})`: no body, no content type.
            no_cors = client.post(path, headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
            assert no_cors.status_code == 403
    assert jobs_in_db(db) == before == [(job_id, "triggered")]


def test_anonymous_writes_are_refused_by_default(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit())
    with client_for(db, tmp_path, token=None) as client:
        for path in write_paths(job_id):
            for headers in ({}, {"Origin": OWN}, {"Authorization": "Bearer anything"}):
                r = client.post(path, json={"name": "nightly"}, headers=headers)
                assert r.status_code == 401, (path, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
                detail = r.json()["detail"]
                # Says what is wrong and both ways out.
                assert "disabled" in detail and "api.token" in detail, detail
                assert "Authorization: Bearer" in detail and "api.anonymous_writes" in detail
        assert client.get(f"/api/jobs/{job_id}").status_code == 200  # reads stay open
    assert jobs_in_db(db) == [(job_id, "triggered")]


def test_a_missing_or_wrong_token_is_refused_with_a_hint(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit())
    with client_for(db, tmp_path) as client:
        missing = client.post(f"/api/jobs/{job_id}/abort")
        assert missing.status_code == 401
        assert "Authorization: Bearer" in missing.json()["detail"]
        wrong = client.post(f"/api/jobs/{job_id}/abort", headers={"Authorization": "Bearer no"})
        assert wrong.status_code == 401 and "wrong" in wrong.json()["detail"]
        ok = client.post(f"/api/jobs/{job_id}/abort", headers={**AUTH, "Origin": OWN})
        assert ok.status_code == 200, ok.text
    assert jobs_in_db(db) == [(job_id, "aborted")]


def test_anonymous_writes_from_the_same_origin_when_allowed(db: Database, tmp_path: Path) -> None:
    first, second = seed(db, presubmit(), presubmit("lint"))
    finish(db, second, "failure")
    with client_for(db, tmp_path, token=None, anonymous_writes=True) as client:
        # The dashboard's own buttons: a same-origin fetch without a body, on a loopback address
        # (a name must be trusted: see the DNS rebinding test below).
        same = {"Origin": "http://127.0.0.1:8080", "Host": "127.0.0.1:8080"}
        same["Sec-Fetch-Site"] = "same-origin"
        aborted = client.post(f"/api/jobs/{first}/abort", headers=same)
        assert aborted.status_code == 200, aborted.text
        rerun = client.post(f"/api/jobs/{second}/rerun", headers=same)
        assert rerun.status_code == 201, rerun.text
        # A script or the CLI sends no Origin.
        started = client.post("/api/jobs", json={"name": "nightly"})
        assert started.status_code == 201, started.text
    new = {rerun.json()["id"], started.json()["id"]}
    triggered = sorted((i, "triggered") for i in new)
    assert jobs_in_db(db) == [(first, "aborted"), (second, "failure"), *triggered]


@pytest.mark.parametrize("host", ["rebound.example:8888", "testserver"])
def test_anonymous_writes_refuse_a_page_of_a_rebound_name(
    db: Database, tmp_path: Path, host: str
) -> None:
    """DNS rebinding: a page of `rebound.example` whose name the attacker then points at the
    server's address. Its requests are same-origin to the browser (Origin and Host agree), so
    with anonymous writes a same-origin rule alone would let any web page write. The name must
    be a loopback or IP literal, or trusted; with a token the page has no token to send."""
    first, second = seed(db, presubmit(), presubmit("lint"))
    own = {"Origin": f"http://{host}", "Host": host, "Sec-Fetch-Site": "same-origin"}
    with client_for(db, tmp_path, token=None, anonymous_writes=True) as client:
        refused = client.post(f"/api/jobs/{first}/abort", headers=own)
        assert refused.status_code == 403, refused.text
        assert "api.allowed_origins" in refused.json()["detail"]
        for literal in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "10.0.0.5:8888"):
            same = {"Origin": f"http://{literal}", "Host": literal, "Sec-Fetch-Site": "same-origin"}
            assert client.post(f"/api/jobs/{second}/rerun", headers=same).status_code == 201
    allowed = [f"http://{host}"]
    with client_for(db, tmp_path, token=None, anonymous_writes=True, allowed_origins=allowed) as c:
        assert c.post(f"/api/jobs/{first}/abort", headers=own).status_code == 200
    with client_for(db, tmp_path) as client:  # a token: the same-origin rule is enough
        assert client.post(f"/api/jobs/{second}/abort", headers={**AUTH, **own}).status_code == 200


def test_anonymous_writes_still_refuse_a_wrong_token(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit())
    with client_for(db, tmp_path, anonymous_writes=True) as client:
        wrong = client.post(f"/api/jobs/{job_id}/abort", headers={"Authorization": "Bearer no"})
        assert wrong.status_code == 401
        assert client.post(f"/api/jobs/{job_id}/abort").status_code == 200


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (OWN, 200),
        ("HTTP://TestServer:80", 200),  # the same origin, spelled differently
        ("http://127.0.0.1:8888", 200),  # reporter.dashboard_url (the default)
        ("https://ci.example.org", 200),  # api.allowed_origins
        ("https://ci.example.org:443", 200),
        ("http://ci.example.org", 403),  # another scheme is another origin
        ("http://testserver:8080", 403),  # and so is another port
        ("https://testserver", 403),
        (EVIL, 403),
        ("null", 403),  # sandboxed frames and file:// pages
        ("", 403),
    ],
)
def test_writes_come_only_from_trusted_origins(
    db: Database, tmp_path: Path, origin: str, status: int
) -> None:
    (job_id,) = seed(db, presubmit())
    with client_for(db, tmp_path, allowed_origins=["https://ci.example.org"]) as client:
        r = client.post(f"/api/jobs/{job_id}/abort", headers={**AUTH, "Origin": origin})
        assert r.status_code == status, r.text
        cross = client.post(
            f"/api/jobs/{job_id}/abort", headers={**AUTH, "Sec-Fetch-Site": "cross-site"}
        )
        assert cross.status_code == 403
    assert jobs_in_db(db) == [(job_id, "aborted" if status == 200 else "triggered")]


def test_json_bodies_need_the_json_content_type(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit())
    body = b'{"name": "nightly"}'
    with client_for(db, tmp_path) as client:
        for headers in ({}, {"Content-Type": "application/x-json-ish"}, {"Content-Type": "x"}):
            r = client.post("/api/jobs", content=body, headers={**AUTH, **headers})
            assert r.status_code == 415, (headers, r.text)
        assert jobs_in_db(db) == [(job_id, "triggered")]
        typed = {**AUTH, "Content-Type": "application/json; charset=utf-8"}
        assert client.post("/api/jobs", content=body, headers=typed).status_code == 201
        # A body-less write may say it is JSON (what some clients always send).
        json_only = {**AUTH, "Content-Type": "application/json"}
        assert client.post(f"/api/jobs/{job_id}/rerun", headers=json_only).status_code == 201
        odd = {**AUTH, "Content-Type": "application/xml"}
        assert client.post(f"/api/jobs/{job_id}/rerun", headers=odd).status_code == 415
    assert len(jobs_in_db(db)) == 3


def test_a_malformed_allowed_origin_stops_the_start(db: Database, tmp_path: Path) -> None:
    for bad in ("ci.example.org", "https://ci.example.org/path", "*", "ftp://x"):
        with pytest.raises(ValueError, match=r"api\.allowed_origins"):
            app_for(db, tmp_path, allowed_origins=[bad])


def test_openapi_documents_the_refusals_of_every_write(db: Database, tmp_path: Path) -> None:
    with TestClient(app_for(db, tmp_path)) as client:
        spec = client.get("/openapi.json").json()
    writes = [
        (path, method, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method != "get"
    ]
    assert {(p, m) for p, m, _ in writes} >= {
        ("/api/jobs", "post"),
        ("/api/jobs/{job_id}/rerun", "post"),
        ("/api/jobs/{job_id}/abort", "post"),
        ("/api/repos/{org}/{repo}/pulls/{number}/comments", "post"),
    }
    for path, method, op in writes:
        if path == "/hook":
            continue
        assert {"401", "403", "413", "415"} <= set(op["responses"]), (path, method)
        assert op.get("security") == [{"HTTPBearer": []}], (path, method)
