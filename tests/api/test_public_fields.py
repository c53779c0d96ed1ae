"""The API never shows the server's filesystem: no local paths in `url`, links or messages.

A job on the local store records its build directory as `file:///...`, and the local SCM
provider links refs to repositories on disk (`file:///.../repos/acme/widget`); both tell anyone
who can read the API where the server keeps its files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from foredeck.db import Job, session_factory
from foredeck.db.jobs import JobCreate, Pull, Refs
from tests.api.helpers import AUTH, client_for, finish, seed
from tests.db.fixtures import Database

SERVER_DIR = "/srv/secret-place/.foredeck"
DASHBOARD = "http://127.0.0.1:8888"  # reporter.dashboard_url's default


def local_job() -> JobCreate:
    """A presubmit as the local SCM provider makes it: every link a `file://` URL."""
    repo = f"file://{SERVER_DIR}/repos/acme/widget"
    refs = Refs(
        org="acme",
        repo="widget",
        repo_link=repo,
        base_ref="main",
        base_sha="a" * 40,
        base_link=f"{repo}/commit/{'a' * 40}",
        clone_uri=f"{SERVER_DIR}/repos/acme/widget",
        pulls=[
            Pull(
                number=1,
                sha="b" * 40,
                author="alice",
                link=f"{repo}#pr/1",
                commit_link=f"{repo}/pull/1/commits/{'b' * 40}",
                author_link=f"file://{SERVER_DIR}/users/alice",
            )
        ],
    )
    extra = Refs(org="acme", repo="tools", repo_link=f"file://{SERVER_DIR}/repos/acme/tools")
    return JobCreate(name="unit", type="presubmit", refs=refs, extra_refs=[extra])


def set_url(db: Database, job_id: int, url: str) -> None:
    with session_factory(db.engine).begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(url=url))


@pytest.mark.parametrize(
    "stored",
    [
        f"file://{SERVER_DIR}/artifacts/pr-logs/pull/acme_widget/1/unit/1",
        f"{SERVER_DIR}/artifacts/pr-logs/pull/acme_widget/1/unit/1",
        f"file:{SERVER_DIR}/artifacts/x",
        "FILE:///srv/secret-place/x",
        "./.foredeck/artifacts/x",
    ],
)
def test_a_local_build_directory_is_shown_as_the_dashboard_link(
    db: Database, tmp_path: Path, stored: str
) -> None:
    (job_id,) = seed(db, local_job())
    finish(db, job_id, "failure")
    set_url(db, job_id, stored)
    dashboard_link = f"{DASHBOARD}/view/{job_id}/artifacts"
    with client_for(db, tmp_path) as client:
        listing = client.get("/api/jobs")
        shown = client.get(f"/api/jobs/{job_id}")
        rerun = client.post(f"/api/jobs/{job_id}/rerun", headers=AUTH)
    assert listing.json()["jobs"][0]["url"] == dashboard_link
    assert shown.json()["url"] == dashboard_link
    for answer in (listing, shown, rerun):
        assert answer.status_code in (200, 201), answer.text
        assert "secret-place" not in answer.text and "file:" not in answer.text.lower()
    refs = shown.json()["refs"]
    assert (refs["org"], refs["repo"], refs["base_sha"]) == ("acme", "widget", "a" * 40)
    assert shown.json()["pulls"][0]["number"] == 1
    assert shown.json()["extra_refs"][0]["repo"] == "tools"


@pytest.mark.parametrize(
    "stored",
    [
        "s3://ci-artifacts/pr-logs/pull/acme_widget/1/unit/1",
        "gs://ci-artifacts/pr-logs/pull/acme_widget/1/unit/1",
        "https://artifacts.example.org/pr-logs/pull/acme_widget/1/unit/1",
    ],
)
def test_store_urls_are_shown_as_they_are(db: Database, tmp_path: Path, stored: str) -> None:
    (job_id,) = seed(db, local_job())
    set_url(db, job_id, stored)
    with client_for(db, tmp_path) as client:
        assert client.get(f"/api/jobs/{job_id}").json()["url"] == stored
        assert client.get("/api/jobs").json()["jobs"][0]["url"] == stored


def test_web_links_in_refs_are_kept(db: Database, tmp_path: Path) -> None:
    refs = Refs(
        org="acme",
        repo="widget",
        repo_link="https://github.com/acme/widget",
        base_ref="main",
        clone_uri="git@github.com:acme/widget.git",
        pulls=[Pull(number=3, link="https://github.com/acme/widget/pull/3")],
    )
    (job_id,) = seed(db, JobCreate(name="unit", type="presubmit", refs=refs))
    with client_for(db, tmp_path) as client:
        body = client.get(f"/api/jobs/{job_id}").json()
    assert body["url"] is None  # not published yet
    assert body["refs"]["repo_link"] == "https://github.com/acme/widget"
    assert body["refs"]["clone_uri"] == "git@github.com:acme/widget.git"
    assert body["pulls"][0]["link"] == "https://github.com/acme/widget/pull/3"


def test_an_unreadable_log_does_not_name_its_path(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (job_id,) = seed(db, local_job())
    log = tmp_path / "ws" / "out" / "build-log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("hello\n")
    with session_factory(db.engine).begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(workspace=str(log.parents[1])))

    def unreadable(*_args: object) -> None:
        raise PermissionError(13, "Permission denied", str(log))

    monkeypatch.setattr("foredeck.api.logs.plan", unreadable)
    with client_for(db, tmp_path) as client:
        r = client.get(f"/api/jobs/{job_id}/log")
    assert r.status_code == 404
    assert str(tmp_path) not in r.text and "unreadable" in r.json()["detail"]
