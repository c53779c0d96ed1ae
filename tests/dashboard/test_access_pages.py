"""The dashboard by role: private jobs, the buttons a role may use, signing in and out, and
the CSRF token every state-changing form needs."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from foredeck.access.gate import CSRF_COOKIE, SESSION_COOKIE
from foredeck.db import session_factory
from foredeck.db.models import AuditEntry
from foredeck.serve.app import create_service_app
from tests.api.access import access_settings, make_token
from tests.api.helpers import AUTH, TOKEN, presubmit, seed
from tests.db.fixtures import Database

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF field in the page"
    return found.group(1)


def client_for(db: Database, tmp_path: Path) -> TestClient:
    return TestClient(create_service_app(access_settings(db, tmp_path), db.engine))


def sign_in(client: TestClient, token: str) -> None:
    csrf = csrf_of(client.get("/login").text)
    done = client.post("/login", data={"token": token, "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert client.cookies.get(SESSION_COOKIE) == token


def test_private_jobs_and_buttons_follow_the_role(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit())
    with client_for(db, tmp_path) as admin:
        _, vera = make_token(admin, "vera", "viewer")
        _, eddie = make_token(admin, "eddie", "editor")
    anonymous = client_for(db, tmp_path)
    page = anonymous.get(f"/view/{job_id}")
    assert page.status_code == 401 and 'href="/login"' in page.text
    assert f"/view/{job_id}" not in anonymous.get("/").text
    assert anonymous.get("/job-history/unit").status_code == 404
    assert anonymous.get("/pr-history/acme/widget/7").status_code == 404

    viewer = client_for(db, tmp_path)
    sign_in(viewer, vera)
    page = viewer.get(f"/view/{job_id}").text
    assert 'id="signed-in-as" title="session">vera<' in page
    assert "data-action" not in page  # a viewer may not rerun: no button
    assert f"/view/{job_id}" in viewer.get("/").text
    assert viewer.get("/job-history/unit").status_code == 200

    editor = client_for(db, tmp_path)
    sign_in(editor, eddie)
    page = editor.get(f"/view/{job_id}").text
    assert 'data-action="rerun"' in page and 'data-action="abort"' in page


def test_sign_in_and_out_need_the_csrf_token(db: Database, tmp_path: Path) -> None:
    client = client_for(db, tmp_path)
    page = client.get("/login")
    csrf = csrf_of(page.text)
    assert client.cookies.get(CSRF_COOKIE) == csrf
    assert (
        "HttpOnly" in page.headers["set-cookie"] and "SameSite=strict" in page.headers["set-cookie"]
    )
    forged = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert forged.status_code == 403 and "CSRF" in forged.text
    wrong = {"token": TOKEN, "csrf_token": "x" * 43}
    assert client.post("/login", data=wrong, follow_redirects=False).status_code == 403
    assert client.cookies.get(SESSION_COOKIE) is None
    bad = client.post("/login", data={"token": "fdt_nope", "csrf_token": csrf})
    assert bad.status_code == 401 and "unknown API token" in bad.text
    assert client.cookies.get(SESSION_COOKIE) is None
    as_json = client.post("/login", json={"token": TOKEN, "csrf_token": csrf})
    assert as_json.status_code == 415
    sign_in(client, TOKEN)
    assert 'id="signed-in-as"' in client.get("/").text
    # Signing out is a form too: without the token nothing happens.
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.cookies.get(SESSION_COOKIE) == TOKEN
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and client.cookies.get(SESSION_COOKIE) is None
    assert 'href="/login" id="sign-in"' in client.get("/").text
    with session_factory(db.engine)() as session:
        actions = [e.action for e in session.execute(select(AuditEntry)).scalars()]
    assert actions == ["login", "logout"]


def test_a_session_cookie_write_needs_the_csrf_header(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit())
    client = client_for(db, tmp_path)
    sign_in(client, TOKEN)
    csrf = client.cookies.get(CSRF_COOKIE)
    refused = client.post(f"/api/jobs/{job_id}/abort")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    # The bearer header is no cookie: a script needs no CSRF token.
    assert client.post(f"/api/jobs/{job_id}/rerun", headers=AUTH).status_code == 201
    done = client.post(f"/api/jobs/{job_id}/abort", headers={"X-CSRF-Token": csrf or ""})
    assert done.status_code == 200, done.text


def test_a_stale_session_is_nobody(db: Database, tmp_path: Path) -> None:
    (job_id,) = seed(db, presubmit())
    client = client_for(db, tmp_path)
    client.cookies.set(SESSION_COOKIE, "fdt_" + "x" * 43)
    page = client.get(f"/view/{job_id}")
    assert page.status_code == 401 and 'id="sign-in"' in page.text


def test_cookies_are_secure_behind_a_tls_proxy(db: Database, tmp_path: Path) -> None:
    """The proxy ends TLS, so the request says http; `reporter.dashboard_url` says https."""
    settings = access_settings(db, tmp_path)
    behind = settings.model_copy(
        update={
            "reporter": settings.reporter.model_copy(
                update={"dashboard_url": "https://ci.example.org"}
            )
        }
    )
    client = TestClient(create_service_app(behind, db.engine))
    page = client.get("/login")
    assert "; Secure" in page.headers["set-cookie"]
    csrf = csrf_of(page.text)
    # The browser sends a Secure cookie back over https only (this client speaks http).
    signed = client.post(
        "/login",
        data={"token": TOKEN, "csrf_token": csrf},
        headers={"Cookie": f"{CSRF_COOKIE}={csrf}"},
        follow_redirects=False,
    )
    assert signed.status_code == 303 and "; Secure" in signed.headers["set-cookie"]
    plain = client_for(db, tmp_path).get("/login")
    assert "Secure" not in plain.headers["set-cookie"]


def test_the_tokens_page_makes_lists_and_revokes_with_the_csrf_token(
    db: Database, tmp_path: Path
) -> None:
    (job_id,) = seed(db, presubmit())
    assert client_for(db, tmp_path).get("/tokens").status_code == 401
    with client_for(db, tmp_path) as admin:
        _, vera = make_token(admin, "vera", "viewer")
    client = client_for(db, tmp_path)
    sign_in(client, vera)
    page = client.get("/tokens")
    assert page.status_code == 200 and 'href="/tokens" id="tokens-link"' in page.text
    assert re.findall(r'<option value="(\w+)">', page.text) == ["viewer"]  # up to her role
    csrf = csrf_of(page.text)
    form = {"name": "laptop", "role": "viewer", "days": "1", "csrf_token": csrf}
    assert client.post("/tokens", data={**form, "csrf_token": ""}).status_code == 403
    made = client.post("/tokens", data=form)
    assert made.status_code == 201, made.text
    token = re.search(r'<code id="new-token-value">(fdt_[\w-]+)</code>', made.text)
    assert token and "not shown again" in made.text
    api = client.get(f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert api.status_code == 200
    listing = client.get("/tokens").text
    assert token.group(1) not in listing and f"{token.group(1)[:12]}…" in listing
    above = client.post("/tokens", data={**form, "role": "admin"})
    assert above.status_code == 403 and "vera has viewer" in above.text
    bad = client.post("/tokens", data={**form, "days": "many"})
    assert bad.status_code == 422
    new_id = int(re.findall(r'data-token-id="(\d+)"', listing)[0])
    forged = client.post(f"/tokens/{new_id}/revoke", data={}, follow_redirects=False)
    assert forged.status_code == 403
    done = client.post(
        f"/tokens/{new_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    again = client.get(f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert again.status_code == 401 and "revoked" in again.text
    # An admin sees everyone's tokens.
    admin_page = client_for(db, tmp_path)
    sign_in(admin_page, TOKEN)
    everyone = admin_page.get("/tokens").text
    assert "<h1>API tokens (everyone" in everyone and everyone.count("data-token-id=") == 2
