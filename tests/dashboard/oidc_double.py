"""A small OpenID Connect provider on 127.0.0.1 for the callback's error tests: discovery,
JWKS, an authorize endpoint that approves at once for `user`, a token endpoint that checks the
client's secret, the code, the redirect URI and the PKCE verifier (S256), and userinfo.

The ID token it issues can be spoiled on purpose (`spoil`): a wrong nonce, an expired token, a
signature by a key its JWKS does not hold. The browser tests use a certified provider instead
(`tests/oidc/`, panva's oidc-provider); this one exists to make the provider misbehave.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt

CLIENT_ID = "foredeck-test"
CLIENT_SECRET = "test-client-secret"  # a fake provider's client


@dataclass
class Grant:
    user: str
    nonce: str
    challenge: str
    redirect_uri: str


@dataclass
class OidcDouble:
    user: str = "vera"
    groups: list[str] = field(default_factory=list)
    spoil: str | None = None
    """None, "nonce", "expired" or "key": how the next ID token is wrong."""
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: int = 0
    url: str = ""
    claimed_issuer: str | None = None
    """The `issuer` its discovery document names (default: its own URL)."""

    def __post_init__(self) -> None:
        self.key = JsonWebKey.generate_key("RSA", 2048, {"kid": "good"}, is_private=True)
        self.other = JsonWebKey.generate_key("RSA", 2048, {"kid": "rogue"}, is_private=True)

    # -- endpoints ------------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.claimed_issuer or self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "userinfo_endpoint": f"{self.url}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(is_private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
            return Response("bad authorization request", 400)
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(self.user, q["nonce"], q["code_challenge"], q["redirect_uri"])
        back = urlencode({"code": code, "state": q["state"]})
        return RedirectResponse(f"{q['redirect_uri']}?{back}", 302)

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = dict(parse_qsl((await request.body()).decode()))
        auth = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if auth != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self.grants.pop(str(form.get("code", "")), None)
        verifier = str(form.get("code_verifier", ""))
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if grant is None or challenge != grant.challenge:
            return JSONResponse({"error": "invalid_grant"}, 400)
        if form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, 400)
        return JSONResponse(
            {
                "access_token": "at-" + grant.user,
                "token_type": "Bearer",
                "id_token": self._id(grant),
            }
        )

    def _id(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": f"sub-{grant.user}",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
        }
        key = self.key
        if self.spoil == "nonce":
            claims["nonce"] = "not-the-browsers-nonce"
        elif self.spoil == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 1800
        elif self.spoil == "key":
            key = self.other
        header = {"alg": "RS256", "kid": key.kid}
        signed: bytes = jwt.encode(header, claims, key)
        return signed.decode()

    async def userinfo(self, request: Request) -> Response:
        user = request.headers.get("authorization", "").removeprefix("Bearer at-")
        return JSONResponse(
            {"sub": f"sub-{user}", "preferred_username": user, "groups": self.groups}
        )

    # -- serving --------------------------------------------------------------------------------

    def start(self) -> OidcDouble:
        app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
            ]
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the OIDC double did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
