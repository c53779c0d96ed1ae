"""Logins through an OpenID Connect provider or a GitHub OAuth app (docs/access.md#login).

Both are the authorization code flow. What a login must remember between sending the browser
away and its return (the `state`, the OIDC `nonce`, the PKCE `code_verifier`, sent to both
providers) is a `Pending`,
kept in a short-lived HttpOnly cookie of that browser: the callback's `state` must equal the
cookie's, so a callback another site sends the browser to fails. Authlib builds the PKCE
challenge and verifies the ID token (signature against the provider's JWKS, issuer, audience,
expiry, nonce); the provider's answers are read with httpx, size-limited.
"""

from __future__ import annotations

import hmac
import time
import warnings
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc.errors import JoseError as JoserfcError

from foredeck.api_settings import GitHubLogin, LoginClient, OidcLogin

with warnings.catch_warnings():
    # Authlib 1.9 points to joserfc (its own dependency) but keeps `authlib.jose` working.
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, JsonWebToken
    from authlib.jose.errors import JoseError
    from authlib.oidc.core import CodeIDToken

Provider = Literal["oidc", "github"]
PENDING_SECONDS = 600
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_NAME_CHARS = 100
OIDC_PREFIX = "oidc:"
"""Before an OIDC user's name when GitHub login is configured too: the roles file's `users`
then tell `oidc:alice` from GitHub's `alice` (a GitHub login has no colon), so an OIDC user
cannot take a GitHub login's grants by choosing its name."""
MAX_GROUPS = 200
MAX_TEAM_PAGES = 10
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
LEEWAY_SECONDS = 60


class LoginRefused(Exception):
    """A login that cannot go on; `status` is the HTTP status to answer (4xx: the browser's or
    the provider's answer was wrong, 502: the provider could not be asked)."""

    def __init__(self, status: int, message: str, *, spent: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.spent = spent
        """False when the browser's login under way stays good (a callback it did not ask for)."""


@dataclass(frozen=True)
class Pending:
    """A login under way, kept in the browser's login cookie as `encode()`."""

    provider: Provider
    state: str
    nonce: str
    verifier: str
    issued: int

    @classmethod
    def new(cls, provider: Provider) -> Pending:
        return cls(provider, generate_token(32), generate_token(32), generate_token(64), _now())

    def encode(self) -> str:
        return ".".join([self.provider, self.state, self.nonce, self.verifier, str(self.issued)])

    @classmethod
    def decode(cls, value: str | None) -> Pending | None:
        parts = (value or "").split(".")
        if len(parts) != 5 or len(value or "") > 400 or not parts[4].isdecimal():
            return None
        provider, state, nonce, verifier, issued = parts
        if provider not in ("oidc", "github"):
            return None
        return cls(provider, state, nonce, verifier, int(issued))  # type: ignore[arg-type]

    def expired(self) -> bool:
        return not 0 <= _now() - self.issued <= PENDING_SECONDS


@dataclass(frozen=True)
class Identity:
    """Who a provider says signed in."""

    name: str
    via: Provider
    teams: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()


def _now() -> int:
    return int(time.time())


def _secret(client: LoginClient) -> str:
    try:
        return client.secret()
    except OSError as exc:
        where = client.client_secret_file
        raise LoginRefused(
            500, f"the login's client_secret_file {where} cannot be read: {exc.strerror}"
        ) from None


def checked_code(pending: Pending | None, provider: Provider, params: dict[str, str]) -> str:
    """The callback's authorization code, once its `state` matches this browser's login."""
    if pending is None or pending.provider != provider:
        raise LoginRefused(400, "no login under way in this browser: start again from Sign in")
    if pending.expired():
        raise LoginRefused(400, f"the login took longer than {PENDING_SECONDS} s: start again")
    state = params.get("state", "")
    if not state or not hmac.compare_digest(state, pending.state):
        message = "the login's state does not match this browser's: start again"
        raise LoginRefused(400, message, spent=False)
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        raise LoginRefused(403, f"the provider refused the login: {reason[:200]}")
    code = params.get("code", "")
    if not code or len(code) > 2000:
        raise LoginRefused(400, "the provider's answer has no authorization code")
    return code


async def _json(response: httpx.Response, what: str) -> Any:
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise LoginRefused(502, f"{what}: answer larger than {MAX_RESPONSE_BYTES} bytes")
    if response.status_code >= 400:
        raise LoginRefused(502, f"{what}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise LoginRefused(502, f"{what}: not JSON") from None


async def _get(client: httpx.AsyncClient, url: str, what: str, **headers: str) -> Any:
    try:
        response = await client.get(url, headers={"Accept": "application/json", **headers})
    except httpx.HTTPError as exc:
        raise LoginRefused(502, f"{what}: {type(exc).__name__}") from None
    return await _json(response, what)


async def _post(client: httpx.AsyncClient, url: str, what: str, **kwargs: Any) -> Any:
    try:
        response = await client.post(url, headers={"Accept": "application/json"}, **kwargs)
    except httpx.HTTPError as exc:
        raise LoginRefused(502, f"{what}: {type(exc).__name__}") from None
    if 400 <= response.status_code < 500:
        try:
            error = str(response.json().get("error"))[:100]  # invalid_grant, invalid_client, ...
        except (ValueError, AttributeError):
            error = f"HTTP {response.status_code}"
        raise LoginRefused(401, f"{what} refused the authorization code ({error})")
    return await _json(response, what)


# -- OpenID Connect ----------------------------------------------------------------------------


async def discover(client: httpx.AsyncClient, oidc: OidcLogin) -> dict[str, Any]:
    """The provider's metadata; its `issuer` must be the configured one (OIDC Discovery 4.3)."""
    url = f"{oidc.issuer}/.well-known/openid-configuration"
    found = await _get(client, url, "the provider's discovery document")
    if not isinstance(found, dict) or found.get("issuer", "").rstrip("/") != oidc.issuer:
        raise LoginRefused(502, f"the discovery document at {url} is not of issuer {oidc.issuer}")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(found.get(key), str):
            raise LoginRefused(502, f"the discovery document has no {key}")
    return found


async def oidc_authorize_url(oidc: OidcLogin, pending: Pending, redirect_uri: str) -> str:
    async with httpx.AsyncClient(timeout=oidc.timeout) as client:
        meta = await discover(client, oidc)
    params = {
        "response_type": "code",
        "client_id": oidc.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(oidc.scopes),
        "state": pending.state,
        "nonce": pending.nonce,
        **pkce_challenge(pending),
    }
    return _with_query(meta["authorization_endpoint"], params)


def pkce_challenge(pending: Pending) -> dict[str, str]:
    """PKCE (RFC 7636, S256), for both providers: a code that leaks (a log, a referrer) is
    worth nothing without the verifier, which never leaves this browser's login cookie."""
    return {
        "code_challenge": create_s256_code_challenge(pending.verifier),
        "code_challenge_method": "S256",
    }


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


async def oidc_identity(
    oidc: OidcLogin, pending: Pending, code: str, redirect_uri: str, *, qualified: bool = False
) -> Identity:
    """Exchange `code` (with the PKCE verifier), verify the ID token, read the user's claims.
    `qualified` (GitHub login configured too): the user is `oidc:<name>` (`OIDC_PREFIX`)."""
    async with httpx.AsyncClient(timeout=oidc.timeout) as client:
        meta = await discover(client, oidc)
        answer = await _post(
            client,
            meta["token_endpoint"],
            "the provider's token endpoint",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": pending.verifier,
            },
            auth=(oidc.client_id, _secret(oidc)),
        )
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(id_token, str):
            raise LoginRefused(502, "the provider's token answer has no id_token")
        jwks = await _get(client, meta["jwks_uri"], "the provider's JWKS")
        claims = verify_id_token(oidc, id_token, jwks, pending.nonce)
        userinfo = meta.get("userinfo_endpoint")
        access_token = answer.get("access_token")
        if isinstance(userinfo, str) and isinstance(access_token, str):
            more = await _get(
                client, userinfo, "the provider's userinfo", Authorization=f"Bearer {access_token}"
            )
            if isinstance(more, dict) and more.get("sub") == claims.get("sub"):
                claims = {**more, **claims}
    return _oidc_identity(oidc, claims, qualified)


def verify_id_token(oidc: OidcLogin, id_token: str, jwks: Any, nonce: str) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, times and nonce hold."""
    try:
        keys = JsonWebKey.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError):
        raise LoginRefused(502, "the provider's JWKS cannot be read") from None
    try:
        claims = JsonWebToken(ID_TOKEN_ALGORITHMS).decode(
            id_token,
            keys,
            claims_cls=CodeIDToken,
            claims_options={"iss": {"essential": True, "value": oidc.issuer}},
            claims_params={"nonce": nonce, "client_id": oidc.client_id},
        )
        claims.validate(leeway=LEEWAY_SECONDS)
    except (JoseError, JoserfcError, ValueError) as exc:  # Authlib 1.9 checks claims with joserfc
        raise LoginRefused(401, f"the ID token was refused: {_reason(exc)}") from None
    return dict(claims)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if text == "Key not found":
        return "signed with a key the provider's JWKS does not have"
    return text[:200]


def _oidc_identity(oidc: OidcLogin, claims: dict[str, Any], qualified: bool = False) -> Identity:
    name = claims.get(oidc.username_claim)
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS - len(OIDC_PREFIX):
        raise LoginRefused(
            403, f"the provider gave no usable `{oidc.username_claim}` claim for this user"
        )
    groups = claims.get(oidc.groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        raise LoginRefused(403, f"the `{oidc.groups_claim}` claim is not a list")
    kept = frozenset(g for g in groups[:MAX_GROUPS] if isinstance(g, str) and len(g) <= 200)
    return Identity(f"{OIDC_PREFIX}{name}" if qualified else name, "oidc", groups=kept)


# -- GitHub ------------------------------------------------------------------------------------


def github_authorize_url(github: GitHubLogin, pending: Pending, redirect_uri: str) -> str:
    params = {
        "client_id": github.client_id,
        "redirect_uri": redirect_uri,
        "scope": "read:org",
        "state": pending.state,
        "allow_signup": "false",
        **pkce_challenge(pending),  # GitHub takes PKCE, S256 only, since July 2025
    }
    return _with_query(f"{github.web_url}/login/oauth/authorize", params)


async def github_identity(
    github: GitHubLogin, pending: Pending, code: str, redirect_uri: str
) -> Identity:
    """Exchange `code` (with the PKCE verifier) for a user token, then read the user's login
    and org teams."""
    async with httpx.AsyncClient(timeout=github.timeout) as client:
        answer = await _post(
            client,
            f"{github.web_url}/login/oauth/access_token",
            "GitHub's token endpoint",
            data={
                "client_id": github.client_id,
                "client_secret": _secret(github),
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": pending.verifier,
            },
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            # GitHub answers 200 with {"error": "bad_verification_code", ...} for a bad code.
            error = answer.get("error") if isinstance(answer, dict) else None
            raise LoginRefused(401, f"GitHub refused the authorization code ({error}): start again")
        auth = f"Bearer {answer['access_token']}"
        user = await _get(client, f"{github.api_url}/user", "GitHub's /user", Authorization=auth)
        login = user.get("login") if isinstance(user, dict) else None
        if not isinstance(login, str) or not 1 <= len(login) <= MAX_NAME_CHARS:
            raise LoginRefused(502, "GitHub's /user has no login")
        teams = await _teams(client, github.api_url, auth)
    return Identity(login, "github", teams=teams)


async def _teams(client: httpx.AsyncClient, api_url: str, auth: str) -> frozenset[str]:
    found: set[str] = set()
    for page in range(1, MAX_TEAM_PAGES + 1):
        url = f"{api_url}/user/teams?per_page=100&page={page}"
        items = await _get(client, url, "GitHub's /user/teams", Authorization=auth)
        if not isinstance(items, list):
            raise LoginRefused(502, "GitHub's /user/teams is not a list")
        for team in items:
            org = (team.get("organization") or {}).get("login") if isinstance(team, dict) else None
            slug = team.get("slug") if isinstance(team, dict) else None
            if isinstance(org, str) and isinstance(slug, str):
                found.add(f"{org}/{slug}")
        if len(items) < 100:
            break
    return frozenset(found)
