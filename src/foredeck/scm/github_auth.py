"""Credentials for the GitHub API: a fixed token, or a GitHub App's installation tokens.

A GitHub App proves who it is with a short-lived RS256 JWT signed by its private key, and trades
that JWT for an installation token (valid one hour) per installation. Tokens are cached and
renewed a margin before `expires_at`, one exchange at a time per installation, so a burst of
concurrent requests triggers a single exchange. Secrets never appear in `repr()`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from foredeck.settings import GitHubSettings

JWT_LIFETIME = 540.0
"""GitHub rejects an App JWT that expires more than 10 minutes ahead; stay well inside."""
JWT_BACKDATE = 60.0
"""Back-date `iat` to absorb clock drift between us and GitHub, as GitHub recommends."""
REFRESH_MARGIN = 300.0


class TokenAuth:
    """A personal access token, fine-grained token or pre-issued installation token."""

    def __init__(self, token: str) -> None:
        if not token or any(c.isspace() for c in token):
            raise ValueError("GitHub token must be a non-empty string without whitespace")
        self._token = token

    @property
    def token(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "TokenAuth(token='***')"


class AppAuth:
    """A GitHub App: its id and RSA private key (PEM), optionally pinned to one installation.

    Without `installation_id`, the installation is looked up per repository owner
    (`GET /repos/{owner}/{repo}/installation`), so one client can serve several organisations.
    """

    def __init__(
        self,
        app_id: int | str,
        private_key: str | bytes,
        *,
        installation_id: int | None = None,
        refresh_margin: float = REFRESH_MARGIN,
        jwt_lifetime: float = JWT_LIFETIME,
    ) -> None:
        if not str(app_id).strip():
            raise ValueError("GitHub App id must not be empty")
        pem = private_key.encode() if isinstance(private_key, str) else private_key
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"GitHub App private key is not a usable PEM key: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("GitHub App private key must be an RSA key (GitHub signs with RS256)")
        if not 0 < jwt_lifetime <= 600:
            raise ValueError("jwt_lifetime must be in (0, 600] seconds")
        self.app_id = str(app_id).strip()
        self.installation_id = installation_id
        self.refresh_margin = refresh_margin
        self.jwt_lifetime = jwt_lifetime
        self._key = key

    def app_jwt(self, now: float) -> str:
        """A JWT authenticating as the App itself (for `/app/...` and installation lookups)."""
        claims = {
            "iat": int(now - JWT_BACKDATE),
            "exp": int(now + self.jwt_lifetime),
            "iss": self.app_id,
        }
        return jwt.encode(claims, self._key, algorithm="RS256")

    def __repr__(self) -> str:
        return (
            f"AppAuth(app_id={self.app_id!r}, installation_id={self.installation_id!r}, "
            "private_key='***')"
        )


@dataclass
class InstallationToken:
    token: str = field(repr=False)
    expires_at: float


Fetch = Callable[[int], Awaitable[InstallationToken]]


class InstallationTokens:
    """Installation tokens by installation id, renewed `margin` seconds before they expire."""

    def __init__(self, margin: float, clock: Callable[[], float] = time.time) -> None:
        self.margin = margin
        self.clock = clock
        self._tokens: dict[int, InstallationToken] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def get(self, installation_id: int, fetch: Fetch) -> str:
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(installation_id)
            if cached is None or cached.expires_at - self.clock() <= self.margin:
                cached = await fetch(installation_id)
                self._tokens[installation_id] = cached
            return cached.token

    def invalidate(self, installation_id: int) -> None:
        self._tokens.pop(installation_id, None)

    def __repr__(self) -> str:
        return f"InstallationTokens(cached={sorted(self._tokens)})"


MAX_SECRET_BYTES = 64 * 1024


def _read_secret(path: str | Path, what: str) -> bytes:
    """A secret file's bytes; errors name the file, never its content."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_SECRET_BYTES:
            raise ValueError(
                f"{what} file {file} is {size} bytes; refusing over {MAX_SECRET_BYTES}"
            )
        data = file.read_bytes().strip()
    except OSError as exc:
        raise ValueError(f"cannot read {what} file {file}: {exc.strerror}") from None
    if not data:
        raise ValueError(f"{what} file {file} is empty")
    return data


def auth_from_files(
    *,
    token_path: str | Path | None = None,
    app_id: int | str | None = None,
    private_key_path: str | Path | None = None,
    installation_id: int | None = None,
) -> TokenAuth | AppAuth:
    """Credentials from Prow-style secret files: a token file, or an App id plus its key file."""
    if token_path is not None and (app_id is not None or private_key_path is not None):
        raise ValueError("give a token file or a GitHub App (id and key file), not both")
    if token_path is not None:
        return TokenAuth(_read_secret(token_path, "GitHub token").decode())
    if app_id is None or private_key_path is None:
        raise ValueError("GitHub credentials: give token_path, or both app_id and private_key_path")
    key = _read_secret(private_key_path, "GitHub App private key")
    return AppAuth(app_id, key, installation_id=installation_id)


def auth_from_settings(settings: GitHubSettings) -> TokenAuth | AppAuth:
    """The credentials `github` settings name, reading secret files now; `ValueError` says
    what is missing or unreadable (naming the file, never its content)."""
    if settings.token is not None:
        return TokenAuth(settings.token.get_secret_value().strip())
    if settings.token_file is not None:
        return auth_from_files(token_path=settings.token_file)
    if settings.app_id is not None:
        return auth_from_files(
            app_id=settings.app_id,
            private_key_path=settings.private_key_file,
            installation_id=settings.installation_id,
        )
    raise ValueError(
        "github: no credentials configured (set github.token, github.token_file, or "
        "github.app_id with github.private_key_file)"
    )
