"""The `/api` routes on SQLite and PostgreSQL, through the full service app."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from foredeck.db import Job, session_factory
from foredeck.serve.app import create_service_app
from foredeck.settings import ScmSettings
from tests.api.helpers import (
    AUTH,
    batch,
    client_for,
    finish,
    postsubmit,
    presubmit,
    seed,
    settings_for,
)
from tests.dashboard.helpers import make_job
from tests.db.fixtures import Database


def job_row(db: Database, job_id: int) -> Job:
    with session_factory(db.engine)() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_list_filters(db: Database, tmp_path: Path) -> None:
    ids = seed(
        db,
        presubmit("unit", pr=7, author="alice"),
        presubmit("lint", pr=7, author="alice"),
        presubmit("unit", pr=8, author="bob"),
        presubmit("unit", pr=9, author="carol", repo="gadget"),
        postsubmit("publish"),
        batch(["bob", "dave"]),
    )
    finish(db, ids[1], "failure")
    with client_for(db, tmp_path) as client:

        def names(**params: object) -> list[int]:
            r = client.get("/api/jobs", params=params)
            assert r.status_code == 200, r.text
            return [j["id"] for j in r.json()["jobs"]]

        assert names() == ids[::-1]
        assert names(repo="acme/gadget") == [ids[3]]
        assert names(job="lint") == [ids[1]]
        assert names(type="postsubmit") == [ids[4]]
        assert names(state="failure") == [ids[1]]
        assert names(state=["failure", "triggered"], repo="acme/widget") == [
            ids[5],
            ids[4],
            ids[2],
            ids[1],
            ids[0],
        ]
        assert names(pr=7) == [ids[1], ids[0]]
        # The author is inside the pulls JSON; a batch matches any of its authors.
        assert names(author="bob") == [ids[5], ids[2]]
        assert names(author="dave") == [ids[5]]
        assert names(author="nobody") == []
        assert names(author="bob", job="unit", type="presubmit") == [ids[2]]
        first = client.get("/api/jobs", params={"pr": 8}).json()["jobs"][0]
        assert first["authors"] == ["bob"] and first["pull_number"] == 8
        assert client.get("/api/jobs", params={"repo": "no-slash"}).status_code == 422
        assert client.get("/api/jobs", params={"state": "bogus"}).status_code == 422
        assert client.get("/api/jobs", params={"limit": 501}).status_code == 422
        assert client.get("/api/jobs", params={"limit": 0}).status_code == 422


def test_pagination_has_no_gaps_or_duplicates(db: Database, tmp_path: Path) -> None:
    specs = [presubmit("unit", pr=i, author="alice" if i % 3 else "bob") for i in range(1, 24)]
    ids = seed(db, *specs)
    with client_for(db, tmp_path) as client:
        for params, expected in (
            ({}, ids[::-1]),
            ({"author": "alice"}, [i for n, i in enumerate(ids, 1) if n % 3][::-1]),
        ):
            seen: list[int] = []
            after: int | None = None
            pages = 0
            while True:
                query = {**params, "limit": 5, **({"after": after} if after else {})}
                body = client.get("/api/jobs", params=query).json()
                pages += 1
                seen += [j["id"] for j in body["jobs"]]
                assert len(body["jobs"]) <= 5
                after = body["next"]
                if after is None:
                    break
                assert after == body["jobs"][-1]["id"]
            assert seen == expected
            assert pages == -(-len(expected) // 5)


def test_show_job(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit("unit", pr=7))
    with client_for(db, tmp_path) as client:
        r = client.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200
        body = r.json()
        assert body["name"] == "unit" and body["state"] == "triggered"
        assert body["refs"]["org"] == "acme" and body["refs"]["pulls"][0]["number"] == 7
        assert body["trigger_reason"] == "opened"
        assert body["created_at"] and body["started_at"] is None
        assert {"url", "build_id", "description", "finished_at"} <= body.keys()
        missing = client.get(f"/api/jobs/{job_id + 1000}")
        assert missing.status_code == 404
        assert missing.json()["detail"] == f"no job {job_id + 1000}"


def test_show_job_says_whether_a_run_is_flaky(db: Database, tmp_path: Path) -> None:
    first = make_job(db, "unit", state="failure", cases={"t.flaky": "failed", "t.ok": "passed"})
    make_job(db, "unit", state="success", cases={"t.flaky": "passed", "t.ok": "passed"})
    other = make_job(db, "unit", state="failure", sha="c" * 40, cases={"t.flaky": "failed"})
    unrecorded = make_job(db, "unit", state="failure")
    with client_for(db, tmp_path) as client:
        assert client.get(f"/api/jobs/{first}").json()["flakes"] == {
            "flaky": True,
            "known_flake": True,
            "failed_tests": ["t.flaky"],
            "known_flaky_tests": ["t.flaky"],
        }
        flakes = client.get(f"/api/jobs/{other}").json()["flakes"]
        assert (flakes["flaky"], flakes["known_flake"]) == (False, True)
        assert client.get(f"/api/jobs/{unrecorded}").json()["flakes"] is None
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        assert set(schema["RunFlakes"]["properties"]) == {
            "flaky",
            "known_flake",
            "failed_tests",
            "known_flaky_tests",
        }


def test_rerun_creates_a_new_row(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit("unit", pr=7))
    finish(db, job_id, "failure")
    with client_for(db, tmp_path) as client:
        r = client.post(f"/api/jobs/{job_id}/rerun", headers=AUTH)
        assert r.status_code == 201, r.text
        new_id = r.json()["id"]
        assert new_id != job_id and r.json()["state"] == "triggered"
        assert client.post("/api/jobs/99999/rerun", headers=AUTH).status_code == 404
    old, new = job_row(db, job_id), job_row(db, new_id)
    assert (new.name, new.type, new.refs, new.job_config, new.context) == (
        old.name,
        old.type,
        old.refs,
        old.job_config,
        old.context,
    )
    assert new.pull_number == 7 and new.cause == "api" and new.dedupe_key is None
    assert old.state == "failure"


def test_abort(db: Database, tmp_path: Path) -> None:
    pending, done = seed(db, presubmit("unit", pr=7), presubmit("lint", pr=7))
    finish(db, done, "success")
    with client_for(db, tmp_path) as client:
        r = client.post(f"/api/jobs/{pending}/abort", headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "aborted" and r.json()["finished_at"]
        again = client.post(f"/api/jobs/{pending}/abort", headers=AUTH)
        assert again.status_code == 409
        assert client.post(f"/api/jobs/{done}/abort", headers=AUTH).status_code == 409
        assert client.post("/api/jobs/99999/abort", headers=AUTH).status_code == 404
    assert job_row(db, pending).state == "aborted"
    assert job_row(db, pending).description == "Aborted through the API"
    assert job_row(db, done).state == "success"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0LXRva2Vu"}],
)
def test_mutations_need_the_token(db: Database, tmp_path: Path, headers: dict[str, str]) -> None:
    (job_id,) = seed(db, presubmit())
    with client_for(db, tmp_path) as client:
        for path, body in (
            (f"/api/jobs/{job_id}/abort", None),
            (f"/api/jobs/{job_id}/rerun", None),
            ("/api/jobs", {"name": "nightly"}),
        ):
            r = client.post(path, json=body, headers=headers)
            assert r.status_code == 401, (path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
        assert client.get(f"/api/jobs/{job_id}").status_code == 200  # reads stay open
    with session_factory(db.engine)() as session:
        rows = session.execute(select(Job.id, Job.state)).all()
    assert [tuple(r) for r in rows] == [(job_id, "triggered")]


def test_start_presubmit_postsubmit_periodic(db: Database, tmp_path: Path) -> None:
    refs = {"org": "acme", "repo": "widget", "base_ref": "main", "base_sha": "a" * 40}
    with client_for(db, tmp_path) as client:
        pre = client.post("/api/jobs", json={"name": "unit", "refs": refs, "pull": 5}, headers=AUTH)
        assert pre.status_code == 201, pre.text
        post = client.post("/api/jobs", json={"name": "publish", "refs": refs}, headers=AUTH)
        assert post.status_code == 201, post.text
        per = client.post("/api/jobs", json={"name": "nightly"}, headers=AUTH)
        assert per.status_code == 201, per.text
    pre_row, post_row, per_row = (job_row(db, r.json()["id"]) for r in (pre, post, per))
    assert (pre_row.type, pre_row.pull_number, pre_row.org, pre_row.repo) == (
        "presubmit",
        5,
        "acme",
        "widget",
    )
    assert pre_row.pulls[0]["number"] == 5 and pre_row.pulls[0]["ref"] == "refs/pull/5/head"
    assert pre_row.job_config["name"] == "unit" and pre_row.job_config["always_run"] is True
    assert pre_row.context == "unit" and pre_row.cause == "api"
    assert (post_row.type, post_row.pull_number, post_row.base_sha) == (
        "postsubmit",
        None,
        "a" * 40,
    )
    assert (per_row.type, per_row.refs, per_row.cause) == ("periodic", None, "api")
    assert per_row.job_config["interval"] == "24h"
    assert {r.state for r in (pre_row, post_row, per_row)} == {"triggered"}


def test_start_errors(db: Database, tmp_path: Path) -> None:
    refs = {"org": "acme", "repo": "widget", "base_ref": "main"}
    cases = [
        ({"name": "nope"}, 404),
        ({"name": "unit", "refs": {**refs, "repo": "gadget"}, "pull": 1}, 404),
        ({"name": "unit", "type": "presubmit", "refs": refs}, 422),  # a presubmit needs a pull
        ({"name": "publish", "type": "postsubmit", "refs": refs, "pull": 3}, 422),
        ({"name": "nightly", "type": "periodic", "refs": refs}, 422),
        ({"name": "main-only", "refs": {**refs, "base_ref": "dev"}, "pull": 1}, 422),
        ({"name": "unit", "pull": 1}, 422),  # a pull without refs
        ({"name": "unit", "bogus": 1}, 422),
        ({"name": "unit", "type": "batch", "refs": refs, "pull": 1}, 422),
        ({"name": ""}, 422),
    ]
    with client_for(db, tmp_path) as client:
        for body, status in cases:
            r = client.post("/api/jobs", json=body, headers=AUTH)
            assert r.status_code == status, (body, r.text)
        huge = client.post(
            "/api/jobs", json={"name": "x" * 600_000}, headers=AUTH
        )  # over the body limit, refused before parsing
        assert huge.status_code == 413
        assert client.get("/api/jobs").json()["jobs"] == []


def test_openapi_lists_every_route(db: Database, tmp_path: Path) -> None:
    with client_for(db, tmp_path) as client:
        spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) >= {
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/log",
        "/api/jobs/{job_id}/rerun",
        "/api/jobs/{job_id}/abort",
        "/api/repos/{org}/{repo}/pulls/{number}/comments",
        "/hook",
    }
    assert set(paths["/api/jobs"]) == {"get", "post"}
    listing = paths["/api/jobs"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "repo",
        "job",
        "type",
        "state",
        "pr",
        "author",
        "limit",
        "after",
    }
    ok = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/JobPage"}
    assert "409" in paths["/api/jobs/{job_id}/abort"]["post"]["responses"]
    # 422 is either FastAPI's validation errors or a message (refs that do not fit the job).
    for path, method in (("/api/jobs", "get"), ("/api/jobs", "post")):
        unprocessable = paths[path][method]["responses"]["422"]["content"]["application/json"]
        assert unprocessable["schema"] == {"$ref": "#/components/schemas/Unprocessable"}
    assert {"JobPage", "JobSummary", "JobDetail", "StartJob", "Refs"} <= set(
        spec["components"]["schemas"]
    )
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_pages_stay_stable_while_jobs_arrive(db: Database, tmp_path: Path) -> None:
    ids = seed(db, *[presubmit("unit", pr=i) for i in range(1, 13)])
    with client_for(db, tmp_path) as client:
        first = client.get("/api/jobs", params={"limit": 5}).json()
        seed(db, *[presubmit("new", pr=i) for i in range(1, 4)])  # newer than every page
        seen = [j["id"] for j in first["jobs"]]
        after = first["next"]
        while after is not None:
            page = client.get("/api/jobs", params={"limit": 5, "after": after}).json()
            seen += [j["id"] for j in page["jobs"]]
            after = page["next"]
    assert seen == ids[::-1]


def test_start_with_the_local_provider_fetches_its_pull_branch(
    db: Database, tmp_path: Path
) -> None:
    settings = settings_for(db, tmp_path).model_copy(
        update={"scm": ScmSettings(provider="local", local_root=str(tmp_path))}
    )
    refs = {"org": "acme", "repo": "widget", "base_ref": "main"}
    with TestClient(create_service_app(settings, db.engine)) as client:
        r = client.post("/api/jobs", json={"name": "unit", "refs": refs, "pull": 3}, headers=AUTH)
        assert r.status_code == 201, r.text
    assert job_row(db, r.json()["id"]).pulls[0]["ref"] == "refs/heads/pr/3"


def test_full_pages_of_the_largest_size(db: Database, tmp_path: Path) -> None:
    ids = seed(db, *[postsubmit("publish") for _ in range(501)])
    with client_for(db, tmp_path) as client:
        first = client.get("/api/jobs", params={"limit": 500}).json()
        assert len(first["jobs"]) == 500 and first["next"] == ids[1]
        last = client.get("/api/jobs", params={"limit": 500, "after": first["next"]}).json()
        assert [j["id"] for j in last["jobs"]] == [ids[0]] and last["next"] is None
