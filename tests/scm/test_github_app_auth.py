"""GitHub App authentication: JWT, installation lookup, token caching and renewal."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from foredeck.scm.github import GitHubClient
from foredeck.scm.github_auth import AppAuth, TokenAuth, auth_from_files
from foredeck.scm.github_types import GitHubError
from tests.doubles.github_api import GitHubDouble
from tests.scm.conftest import NOW, FakeClock, FakeSleep

APP_ID = 4242
TOKEN_OP = "apps/create-installation-access-token"
LOOKUP_OP = "apps/get-repo-installation"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def private_pem(rsa_key: rsa.RSAPrivateKey) -> str:
    return rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def gh(
    github_double: GitHubDouble, rsa_key: rsa.RSAPrivateKey, fake_clock: FakeClock
) -> GitHubDouble:
    public = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    github_double.add_app(APP_ID, public, slug="foredeck")
    for org in ("org", "other"):
        github_double.add_repo(org, "repo")
        github_double.add_pull(org, "repo", 1)
        github_double.add_installation(APP_ID, org)
    return github_double


@pytest.fixture
async def app_client(
    gh: GitHubDouble, private_pem: str, fake_clock: FakeClock, fake_sleep: FakeSleep
) -> AsyncIterator[GitHubClient]:
    async with GitHubClient(
        AppAuth(APP_ID, private_pem), base_url=gh.url, clock=fake_clock, sleep=fake_sleep
    ) as client:
        yield client


def test_app_jwt_is_rs256_with_app_id_as_issuer(
    private_pem: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = AppAuth(APP_ID, private_pem).app_jwt(NOW)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(
        token,
        rsa_key.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == str(APP_ID)
    assert claims["iat"] == NOW - 60  # back-dated for clock drift
    assert claims["exp"] - NOW <= 600  # GitHub's ten-minute ceiling


async def test_installation_token_is_requested_once_and_reused(
    gh: GitHubDouble, app_client: GitHubClient
) -> None:
    await app_client.get_pull("org", "repo", 1)
    await app_client.create_comment("org", "repo", 1, "hello")
    await app_client.list_issue_labels("org", "repo", 1)
    assert gh.calls(LOOKUP_OP) == ["GET /repos/org/repo/installation"]
    assert len(gh.calls(TOKEN_OP)) == 1
    assert [c.user for c in gh.comments("org", "repo", 1)] == ["foredeck[bot]"]


async def test_concurrent_requests_share_one_token_exchange(
    gh: GitHubDouble, app_client: GitHubClient
) -> None:
    pulls = await asyncio.gather(*(app_client.get_pull("org", "repo", 1) for _ in range(5)))
    assert {p.number for p in pulls} == {1}
    assert len(gh.calls(LOOKUP_OP)) == 1
    assert len(gh.calls(TOKEN_OP)) == 1


async def test_token_is_renewed_shortly_before_expiry(
    gh: GitHubDouble, app_client: GitHubClient, fake_clock: FakeClock
) -> None:
    await app_client.get_pull("org", "repo", 1)
    expires = NOW + gh.token_lifetime

    fake_clock.now = expires - 301  # outside the 5-minute margin: keep the token
    await app_client.get_pull("org", "repo", 1)
    assert len(gh.calls(TOKEN_OP)) == 1

    fake_clock.now = expires - 299  # inside the margin: exchange for a fresh one
    await app_client.get_pull("org", "repo", 1)
    assert len(gh.calls(TOKEN_OP)) == 2

    fake_clock.now = expires + 10  # the first token has expired; the second one still works
    await app_client.get_pull("org", "repo", 1)
    assert len(gh.calls(TOKEN_OP)) == 2
    assert all(r.status in (200, 201, 304) for r in gh.requests)


async def test_each_owner_gets_its_own_installation(
    gh: GitHubDouble, app_client: GitHubClient
) -> None:
    await app_client.get_pull("org", "repo", 1)
    await app_client.get_pull("other", "repo", 1)
    await app_client.get_pull("other", "repo", 1)
    assert gh.calls(LOOKUP_OP) == [
        "GET /repos/org/repo/installation",
        "GET /repos/other/repo/installation",
    ]
    ids = {r.path.split("/")[3] for r in gh.requests if r.operation_id == TOKEN_OP}
    assert len(ids) == 2


async def test_org_paths_look_up_the_org_installation(
    gh: GitHubDouble, app_client: GitHubClient
) -> None:
    gh.add_org_member("org", "alice")
    assert await app_client.is_org_member("org", "alice") is True
    assert gh.calls("apps/get-org-installation") == ["GET /orgs/org/installation"]


async def test_pinned_installation_skips_lookup(
    gh: GitHubDouble, private_pem: str, fake_clock: FakeClock
) -> None:
    inst = next(i.id for i in gh.installations.values() if i.account == "org")
    auth = AppAuth(str(APP_ID), private_pem, installation_id=inst)
    async with GitHubClient(auth, base_url=gh.url, clock=fake_clock) as client:
        assert await client.installation_id("org", "repo") == inst
        await client.get_pull("org", "repo", 1)
    assert gh.calls(LOOKUP_OP) == []
    assert gh.calls(TOKEN_OP) == [f"POST /app/installations/{inst}/access_tokens"]


async def test_revoked_token_is_replaced_once(gh: GitHubDouble, app_client: GitHubClient) -> None:
    await app_client.get_pull("org", "repo", 1)
    for token in [t for t, s in gh.tokens.items() if s.installation_id is not None]:
        del gh.tokens[token]  # GitHub revoked it
    pull = await app_client.get_pull("org", "repo", 1)
    assert pull.number == 1
    assert [r.status for r in gh.requests][-3:] == [401, 201, 304]


def test_bad_private_keys_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="not a usable PEM key"):
        AppAuth(APP_ID, "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n")
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ValueError, match="must be an RSA key"):
        AppAuth(APP_ID, ec_pem)


async def test_secrets_redacted_in_repr_and_logs(
    gh: GitHubDouble,
    app_client: GitHubClient,
    private_pem: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        await app_client.get_pull("org", "repo", 1)
    issued = [t for t, s in gh.tokens.items() if s.installation_id is not None]
    assert len(issued) == 1
    key_body = private_pem.splitlines()[1]
    for text in (caplog.text, repr(app_client)):
        assert issued[0] not in text and key_body not in text
    assert "private_key='***'" in repr(app_client)
    assert "new token" in caplog.text  # the exchange is logged, the token is not


async def test_app_not_installed_is_a_clear_error(
    gh: GitHubDouble, app_client: GitHubClient
) -> None:
    gh.add_repo("stranger", "repo")
    gh.add_pull("stranger", "repo", 1)
    with pytest.raises(GitHubError, match=f"GitHub App {APP_ID} is not installed for stranger"):
        await app_client.get_pull("stranger", "repo", 1)
    assert gh.calls("pulls/get") == []


async def test_enterprise_base_url_prefix_and_credential_choice(private_pem: str) -> None:
    """On GHES the API lives under /api/v3; the JWT goes only to App routes."""
    sent: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"].removeprefix("Bearer ")
        sent.append((request.url.path, "jwt" if auth.count(".") == 2 else auth))
        if request.url.path.endswith("/installation"):
            return httpx.Response(200, json={"id": 77, "app_id": APP_ID})
        if request.url.path.endswith("/access_tokens"):
            body = {"token": "ghs_enterprise", "expires_at": "2099-01-01T00:00:00Z"}
            return httpx.Response(201, json=body)
        return httpx.Response(200, json=[{"filename": "x.py"}])

    async with GitHubClient(
        AppAuth(APP_ID, private_pem),
        base_url="https://ghe.example/api/v3",
        transport=httpx.MockTransport(answer),
    ) as client:
        assert await client.list_pull_files("o", "r", 3) == ["x.py"]
    assert sent == [
        ("/api/v3/repos/o/r/installation", "jwt"),
        ("/api/v3/app/installations/77/access_tokens", "jwt"),
        ("/api/v3/repos/o/r/pulls/3/files", "ghs_enterprise"),
    ]


def test_auth_from_files(tmp_path: Path, private_pem: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("ghp_secret\n")
    auth = auth_from_files(token_path=token_file)
    assert isinstance(auth, TokenAuth) and auth.token == "ghp_secret"

    key_file = tmp_path / "app.pem"
    key_file.write_text(private_pem)
    app = auth_from_files(app_id=APP_ID, private_key_path=key_file, installation_id=5)
    assert isinstance(app, AppAuth) and (app.app_id, app.installation_id) == (str(APP_ID), 5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give token_path, or both"),
        ({"app_id": APP_ID}, "give token_path, or both"),
        ({"token_path": "t", "app_id": 1}, "not both"),
        ({"token_path": "missing"}, "cannot read GitHub token file"),
        ({"token_path": "empty"}, "GitHub token file .* is empty"),
        ({"app_id": 1, "private_key_path": "junk"}, "not a usable PEM key"),
    ],
)
def test_auth_from_files_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, object], message: str
) -> None:
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "junk").write_text("SECRET-JUNK")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message) as err:
        auth_from_files(**kwargs)  # type: ignore[arg-type]
    assert "SECRET-JUNK" not in str(err.value)
