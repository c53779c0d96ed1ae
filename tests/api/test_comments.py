"""Comments on local pull requests through the API: stored, and logged as `issue_comment`."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from foredeck.db import Event, ScmComment, session_factory
from foredeck.serve.app import create_service_app
from foredeck.settings import ScmSettings
from tests.api.helpers import AUTH, client_for, settings_for
from tests.db.fixtures import Database
from tests.kit.git import local_pull_request


def test_comment_on_a_local_pull_request(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "repos"
    local_pull_request(root)
    settings = settings_for(db, tmp_path).model_copy(
        update={"scm": ScmSettings(provider="local", local_root=str(root))}
    )
    path = "/api/repos/acme/widget/pulls/1/comments"
    with TestClient(create_service_app(settings, db.engine)) as client:
        assert client.post(path, json={"body": "/test unit", "author": "bob"}).status_code == 401
        r = client.post(path, json={"body": "/test unit", "author": "bob"}, headers=AUTH)
        assert r.status_code == 201, r.text
        assert (r.json()["author"], r.json()["body"]) == ("bob", "/test unit")
        missing = client.post(
            "/api/repos/acme/widget/pulls/2/comments",
            json={"body": "/retest", "author": "bob"},
            headers=AUTH,
        )
        assert missing.status_code == 404, missing.text
        bad = client.post(path, json={"body": "x", "author": "not a login"}, headers=AUTH)
        assert bad.status_code == 422, bad.text
        bad_repo = client.post(
            "/api/repos/acme/wid%20get/pulls/1/comments",
            json={"body": "x", "author": "bob"},
            headers=AUTH,
        )
        assert bad_repo.status_code == 422
    with session_factory(db.engine)() as session:
        comments = session.execute(select(ScmComment)).scalars().all()
        assert [(c.number, c.author, c.body) for c in comments] == [(1, "bob", "/test unit")]
        events = session.execute(select(Event)).scalars().all()
        assert [(e.event, e.action, e.org, e.repo) for e in events] == [
            ("issue_comment", "created", "acme", "widget")
        ]
        payload = json.loads(events[0].payload)
        assert payload["comment"]["body"] == "/test unit"
        assert payload["issue"]["number"] == 1


def test_comments_need_the_local_provider(db: Database, tmp_path: Path) -> None:
    with client_for(db, tmp_path) as client:
        r = client.post(
            "/api/repos/acme/widget/pulls/1/comments",
            json={"body": "/retest", "author": "bob"},
            headers=AUTH,
        )
        assert r.status_code == 404
        assert r.json()["detail"] == "comments through the API need scm.provider: local"


def test_names_the_local_provider_refuses_are_refused_by_the_schema(
    db: Database, tmp_path: Path
) -> None:
    """The OpenAPI description says which org and repo names exist; a name it allows is never
    refused later by the provider (the fuzz's `positive_data_acceptance`)."""
    settings = settings_for(db, tmp_path).model_copy(
        update={"scm": ScmSettings(provider="local", local_root=str(tmp_path / "repos"))}
    )
    with TestClient(create_service_app(settings, db.engine)) as client:
        for org, repo in (("-acme", "widget"), ("acme", "-widget"), ("acme", "a..b"), (".x", "y")):
            r = client.post(
                f"/api/repos/{org}/{repo}/pulls/1/comments",
                json={"body": "/retest", "author": "bob"},
                headers=AUTH,
            )
            assert r.status_code == 422, (org, repo, r.text)
            assert r.json()["detail"][0]["loc"][:1] == ["path"], r.text
        bad_author = client.post(
            "/api/repos/acme/widget/pulls/1/comments",
            json={"body": "/retest", "author": "-bob"},
            headers=AUTH,
        )
        assert bad_author.status_code == 422
        assert bad_author.json()["detail"][0]["loc"] == ["body", "author"]


def test_a_missing_repository_does_not_name_the_local_root(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "repos"
    local_pull_request(root)
    settings = settings_for(db, tmp_path).model_copy(
        update={"scm": ScmSettings(provider="local", local_root=str(root))}
    )
    with TestClient(create_service_app(settings, db.engine)) as client:
        r = client.post(
            "/api/repos/acme/gadget/pulls/1/comments",
            json={"body": "/retest", "author": "bob"},
            headers=AUTH,
        )
    assert r.status_code == 404 and "acme/gadget" in r.json()["detail"]
    assert str(tmp_path) not in r.text


def test_an_editor_comments_as_themself_and_only_an_admin_as_someone_else(
    db: Database, tmp_path: Path
) -> None:
    """A chat-op command acts with its author's rights (`/lgtm`, `/approve`): an editor's
    token may not post one in another user's name."""
    from tests.api.access import access_settings, bearer, make_token

    local_pull_request(tmp_path / "repos")
    settings = access_settings(db, tmp_path, local_scm=True)
    path = "/api/repos/acme/widget/pulls/1/comments"
    with TestClient(create_service_app(settings, db.engine)) as client:
        editor = bearer(make_token(client, "eddie", "editor")[1])
        admin = bearer(make_token(client, "alice", "admin")[1])
        own = client.post(path, json={"body": "/lgtm"}, headers=editor)
        assert own.status_code == 201, own.text
        assert own.json()["author"] == "eddie"
        forged = client.post(path, json={"body": "/lgtm", "author": "alice"}, headers=editor)
        assert forged.status_code == 403, forged.text
        assert "comment as another user (alice)" in forged.text
        same = client.post(path, json={"body": "/hold", "author": "Eddie"}, headers=editor)
        assert same.status_code == 201, same.text
        played = client.post(path, json={"body": "/retest", "author": "bob"}, headers=admin)
        assert played.status_code == 201 and played.json()["author"] == "bob"
    with session_factory(db.engine)() as session:
        authors = [c.author for c in session.execute(select(ScmComment)).scalars()]
    assert authors == ["eddie", "Eddie", "bob"]
