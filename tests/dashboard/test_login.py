"""The dashboard's OIDC and GitHub logins, without a browser: the callback turns the provider's
answer into a session (a login token of the user, with their groups or teams), and every wrong
answer (state, nonce, expired ID token, a key the JWKS lacks, a bad code) is a clear 4xx that
stores nothing: no token, no audit entry, no session cookie."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select

from foredeck.access.gate import CSRF_COOKIE, SESSION_COOKIE
from foredeck.access.login import PENDING_SECONDS, Pending
from foredeck.api_settings import GitHubLogin, OidcLogin
from foredeck.dashboard.login import LOGIN_COOKIE
from foredeck.db import session_factory
from foredeck.db.models import ApiToken, AuditEntry
from foredeck.serve.app import create_service_app
from tests.api.access import ROLES, access_settings
from tests.dashboard.oidc_double import CLIENT_ID, CLIENT_SECRET, OidcDouble
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble, github_double

__all__ = ["github_double"]

GROUP_ROLES = ROLES + "- role: editor\n  repos: [acme/*]\n  groups: [ci-editors]\n"
CSRF = "c" * 43


@pytest.fixture
def provider() -> Iterator[OidcDouble]:
    double = OidcDouble(user="olga", groups=["ci-editors", "other"]).start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def oidc_client(db: Database, tmp_path: Path, provider: OidcDouble) -> Iterator[TestClient]:
    base = access_settings(db, tmp_path, GROUP_ROLES)
    oidc = OidcLogin(
        issuer=provider.url, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET)
    )
    settings = base.model_copy(update={"api": base.api.model_copy(update={"oidc": oidc})})
    with TestClient(create_service_app(settings, db.engine)) as client:
        yield client


def _to_callback(client: TestClient, provider: str) -> str:
    """Start a login and follow the provider's approval: the callback URL it sends back to."""
    start = client.get(f"/login/{provider}", follow_redirects=False)
    assert start.status_code == 303, start.text
    approved = httpx.get(start.headers["location"], follow_redirects=False)
    assert approved.status_code == 302, approved.text
    back = approved.headers["location"]
    assert back.startswith(f"http://testserver/login/{provider}/callback?")
    return back


def _stored(db: Database) -> tuple[int, int]:
    with session_factory(db.engine)() as s:
        made = s.scalar(select(func.count()).select_from(ApiToken))
        logged = s.scalar(select(func.count()).select_from(AuditEntry))
    return made or 0, logged or 0


def _signed_in_as(client: TestClient, session: str) -> list[str]:
    """The `/api/tokens` listing of the session's user (401 for nobody)."""
    answer = client.get("/api/tokens", headers={"Cookie": f"{SESSION_COOKIE}={session}"})
    if answer.status_code == 401:
        return []
    assert answer.status_code == 200, answer.text
    return [f"{t['user']}:{t['name']}" for t in answer.json()]


def test_oidc_login_opens_a_session_with_the_users_groups(
    db: Database, oidc_client: TestClient
) -> None:
    assert 'id="login-oidc"' in oidc_client.get("/login").text
    done = oidc_client.get(_to_callback(oidc_client, "oidc"), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/"
    session = done.cookies[SESSION_COOKIE]
    assert "HttpOnly" in done.headers["set-cookie"]
    assert _signed_in_as(oidc_client, session) == ["olga:sign-in (oidc)"]
    with session_factory(db.engine)() as s:
        row = s.execute(select(ApiToken)).scalar_one()
        entry = s.execute(select(AuditEntry)).scalar_one()
    assert (row.user, row.groups, row.created_by) == ("olga", ["ci-editors", "other"], "login:oidc")
    assert (entry.actor, entry.via, entry.action) == ("olga", "oidc", "login")
    # The tokens page does not call the session's cap (admin) olga's role.
    page = oidc_client.get("/tokens", headers={"Cookie": f"{SESSION_COOKIE}={session}"}).text
    shown = page.split(f'data-token-id="{row.id}"')[1].split("</tr>")[0]
    assert "sign-in</span>" in shown and "admin" not in shown
    # The group's grant holds: olga may rerun on acme (the editor's 404 for a missing job).
    rerun = oidc_client.post(
        "/api/jobs/999/rerun",
        headers={
            "Cookie": f"{SESSION_COOKIE}={session}; {CSRF_COOKIE}={CSRF}",
            "X-CSRF-Token": CSRF,
        },
    )
    assert rerun.status_code == 404, rerun.text


def test_logout_ends_a_login_session_for_good(db: Database, oidc_client: TestClient) -> None:
    done = oidc_client.get(_to_callback(oidc_client, "oidc"), follow_redirects=False)
    session = done.cookies[SESSION_COOKIE]
    oidc_client.cookies.clear()
    out = oidc_client.post(
        "/logout",
        data={"csrf_token": CSRF},
        headers={"Cookie": f"{SESSION_COOKIE}={session}; {CSRF_COOKIE}={CSRF}"},
        follow_redirects=False,
    )
    assert out.status_code == 303
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    # A copy of the cookie kept elsewhere is worth nothing now: the login's token is revoked.
    assert _signed_in_as(oidc_client, session) == []
    with session_factory(db.engine)() as s:
        assert s.execute(select(ApiToken.revoked_at)).scalar_one() is not None
        actions = s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
    assert actions == ["login", "logout"]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        ("nonce", "the ID token was refused"),
        ("expired", "the ID token was refused"),
        ("key", "signed with a key the provider"),
    ],
)
def test_a_wrong_id_token_is_a_401_that_stores_nothing(
    db: Database, oidc_client: TestClient, provider: OidcDouble, spoil: str, message: str
) -> None:
    provider.spoil = spoil
    answer = oidc_client.get(_to_callback(oidc_client, "oidc"), follow_redirects=False)
    assert answer.status_code == 401, answer.text
    assert message in answer.text
    assert SESSION_COOKIE not in answer.cookies
    assert _stored(db) == (0, 0)


def test_a_callback_with_another_state_is_refused_before_the_provider_is_asked(
    db: Database, oidc_client: TestClient, provider: OidcDouble
) -> None:
    back = _to_callback(oidc_client, "oidc")
    answer = oidc_client.get(back.replace("state=", "state=x"), follow_redirects=False)
    assert answer.status_code == 400
    assert "state does not match" in answer.text
    assert provider.token_requests == 0
    assert _stored(db) == (0, 0)
    # The forged callback did not end the browser's own login: its real callback still works.
    assert oidc_client.get(back, follow_redirects=False).status_code == 303


def test_a_callback_without_a_login_under_way_is_refused(
    db: Database, oidc_client: TestClient
) -> None:
    back = _to_callback(oidc_client, "oidc")
    oidc_client.cookies.clear()  # another browser: no login cookie
    answer = oidc_client.get(back, follow_redirects=False)
    assert answer.status_code == 400
    assert "no login under way" in answer.text
    assert _stored(db) == (0, 0)


def test_a_code_the_provider_refuses_is_a_401_naming_its_error(
    db: Database, oidc_client: TestClient, provider: OidcDouble
) -> None:
    back = _to_callback(oidc_client, "oidc")
    provider.grants.clear()  # the code was used or expired meanwhile
    answer = oidc_client.get(back, follow_redirects=False)
    assert answer.status_code == 401
    assert "refused the authorization code (invalid_grant)" in answer.text
    assert _stored(db) == (0, 0)


def test_a_login_left_too_long_is_refused(db: Database, oidc_client: TestClient) -> None:
    back = _to_callback(oidc_client, "oidc")
    state = back.split("state=")[1].split("&")[0]
    old = Pending("oidc", state, "n", "v", int(time.time()) - PENDING_SECONDS - 60)
    oidc_client.cookies.set(LOGIN_COOKIE, old.encode(), path="/login")
    answer = oidc_client.get(back, follow_redirects=False)
    assert answer.status_code == 400
    assert "took longer than 600 s" in answer.text
    assert _stored(db) == (0, 0)


def test_a_provider_claiming_another_issuer_is_not_followed(
    oidc_client: TestClient, provider: OidcDouble
) -> None:
    provider.claimed_issuer = "https://evil.example"
    answer = oidc_client.get("/login/oidc", follow_redirects=False)
    assert answer.status_code == 502
    assert "is not of issuer" in answer.text
    assert LOGIN_COOKIE not in answer.cookies


def test_an_unreadable_secret_file_is_a_500_naming_the_file(
    db: Database, tmp_path: Path, provider: OidcDouble
) -> None:
    missing = tmp_path / "no-such-secret"
    oidc = OidcLogin(issuer=provider.url, client_id=CLIENT_ID, client_secret_file=str(missing))
    base = access_settings(db, tmp_path)
    settings = base.model_copy(update={"api": base.api.model_copy(update={"oidc": oidc})})
    with TestClient(create_service_app(settings, db.engine)) as client:
        answer = client.get(_to_callback(client, "oidc"), follow_redirects=False)
    assert answer.status_code == 500
    assert str(missing) in answer.text
    assert _stored(db) == (0, 0)


def test_login_settings_need_exactly_one_secret() -> None:
    with pytest.raises(ValidationError, match="client_secret or client_secret_file"):
        OidcLogin(issuer="https://sso.example", client_id="c")
    with pytest.raises(ValidationError, match="client_secret or client_secret_file"):
        GitHubLogin(client_id="c", client_secret=SecretStr("s"), client_secret_file="/f")
    with pytest.raises(ValidationError, match="http"):
        OidcLogin(issuer="sso.example", client_id="c", client_secret=SecretStr("s"))
    assert OidcLogin(
        issuer="https://sso.example/", client_id="c", client_secret=SecretStr("s"), scopes=["x"]
    ).model_dump(include={"issuer", "scopes"}) == {
        "issuer": "https://sso.example",
        "scopes": ["openid", "x"],
    }


def test_the_providers_refusal_is_a_403(db: Database, oidc_client: TestClient) -> None:
    state = _to_callback(oidc_client, "oidc").split("state=")[1].split("&")[0]
    answer = oidc_client.get(
        f"/login/oidc/callback?error=access_denied&error_description=no+thanks&state={state}",
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert "the provider refused the login: no thanks" in answer.text
    assert _stored(db) == (0, 0)


def test_logins_not_configured_are_404(db: Database, tmp_path: Path) -> None:
    with TestClient(create_service_app(access_settings(db, tmp_path), db.engine)) as client:
        for path in ("/login/oidc", "/login/github", "/login/oidc/callback"):
            assert client.get(path, follow_redirects=False).status_code == 404
        assert "login-oidc" not in client.get("/login").text


@pytest.fixture
def github_client(
    db: Database, tmp_path: Path, github_double: GitHubDouble
) -> Iterator[TestClient]:
    gh = github_double
    gh.add_oauth_app("gh-client", "gh-secret")
    gh.add_team("acme", "devs", members=["eddie"])
    gh.add_team("other", "x", members=["eddie"])
    gh.sign_in_browser("eddie")
    base = access_settings(db, tmp_path)
    login = GitHubLogin(
        client_id="gh-client",
        client_secret=SecretStr("gh-secret"),
        web_url=gh.url,
        api_url=gh.url,
    )
    settings = base.model_copy(update={"api": base.api.model_copy(update={"github_login": login})})
    with TestClient(create_service_app(settings, db.engine)) as client:
        yield client


def test_github_login_opens_a_session_with_the_users_teams(
    db: Database, github_client: TestClient, github_double: GitHubDouble
) -> None:
    done = github_client.get(_to_callback(github_client, "github"), follow_redirects=False)
    assert done.status_code == 303, done.text
    assert _signed_in_as(github_client, done.cookies[SESSION_COOKIE]) == ["eddie:sign-in (github)"]
    with session_factory(db.engine)() as s:
        row = s.execute(select(ApiToken)).scalar_one()
        entry = s.execute(select(AuditEntry)).scalar_one()
    assert (row.user, row.teams) == ("eddie", ["acme/devs", "other/x"])
    assert (entry.via, entry.action, entry.detail["teams"]) == ("github", "login", row.teams)
    assert github_double.calls(method="GET") == ["GET /user", "GET /user/teams"]


def test_a_used_github_code_is_a_401_that_stores_nothing(
    db: Database, github_client: TestClient
) -> None:
    back = _to_callback(github_client, "github")
    assert github_client.get(back, follow_redirects=False).status_code == 303
    again = _to_callback(github_client, "github")
    code = back.split("code=")[1].split("&")[0]
    fresh = again.split("code=")[1].split("&")[0]
    answer = github_client.get(again.replace(fresh, code), follow_redirects=False)
    assert answer.status_code == 401
    assert "bad_verification_code" in answer.text
    assert _stored(db) == (1, 1)  # the first login's token and entry only


def test_github_login_uses_pkce_and_a_wrong_verifier_is_refused(
    db: Database, github_client: TestClient
) -> None:
    """The authorize URL carries the S256 challenge of the verifier in this browser's login
    cookie; a callback whose cookie holds another verifier (same state) gets no token."""
    start = github_client.get("/login/github", follow_redirects=False)
    query = dict(parse_qsl(urlsplit(start.headers["location"]).query))
    pending = Pending.decode(github_client.cookies.get(LOGIN_COOKIE))
    assert pending is not None
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == create_s256_code_challenge(pending.verifier)
    back = httpx.get(start.headers["location"], follow_redirects=False).headers["location"]

    other = dataclasses.replace(pending, verifier=Pending.new("github").verifier)
    github_client.cookies.set(LOGIN_COOKIE, other.encode(), path="/login")
    answer = github_client.get(back, follow_redirects=False)
    assert answer.status_code == 401, answer.text
    assert "bad_verification_code" in answer.text
    assert SESSION_COOKIE not in answer.cookies
    assert _stored(db) == (0, 0)


def test_the_github_double_checks_pkce_as_github_documents_it(
    github_double: GitHubDouble,
) -> None:
    gh = github_double
    gh.add_oauth_app("app", "secret")
    gh.sign_in_browser("eddie")
    verifier = "v" * 64
    authorize = {"client_id": "app", "redirect_uri": "http://ci.example/cb", "state": "s"}
    challenge = {"code_challenge": create_s256_code_challenge(verifier)}

    def code_for(**params: str) -> httpx.Response:
        return httpx.get(
            f"{gh.url}/login/oauth/authorize",
            params={**authorize, **params},
            follow_redirects=False,
        )

    def exchange(**form: str) -> dict[str, str]:
        code = dict(
            parse_qsl(
                urlsplit(
                    code_for(**challenge, code_challenge_method="S256").headers["location"]
                ).query
            )
        )["code"]
        body = {"client_id": "app", "client_secret": "secret", "code": code, **form}
        answer = httpx.post(
            f"{gh.url}/login/oauth/access_token", data=body, headers={"Accept": "application/json"}
        )
        assert answer.status_code == 200
        result: dict[str, str] = answer.json()
        return result

    assert code_for(**challenge, code_challenge_method="plain").status_code == 400
    assert code_for(code_challenge="short", code_challenge_method="S256").status_code == 400
    assert exchange()["error"] == "bad_verification_code"  # a challenged code needs the verifier
    assert exchange(code_verifier="w" * 64)["error"] == "bad_verification_code"
    assert exchange(code_verifier=verifier)["access_token"].startswith("gho_")
