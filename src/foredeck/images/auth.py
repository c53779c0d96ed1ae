"""Push credentials as an auth file, never on a command line.

buildah reads credentials from a docker `config.json` given with `--authfile`. For a plain
registry that is the configured `images.auth_file`, passed as is. For ECR and Google's
registries foredeck gets a short-lived token (boto3's `get_authorization_token`, Application
Default Credentials) and writes it into a fresh file that only this user can read (0600, in a
0700 directory), removed once the push is done. Tokens are never logged.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foredeck.extras import require
from foredeck.images.registry import ecr_region, registry_kind

if TYPE_CHECKING:  # not imported at run time: `foredeck run` stays without pydantic
    from foredeck.settings import ImageSettings

GOOGLE_USER = "oauth2accesstoken"
GOOGLE_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


class RegistryAuthError(Exception):
    """No credentials for a registry; the message says which and why (never a secret)."""


def ecr_login(host: str, client: Any = None) -> tuple[str, str]:
    """(user, password) for an ECR host from `ecr.get_authorization_token` (AWS SDK
    credentials: environment, profile, IRSA on EKS). `client`: an ECR client to use."""
    if client is None:
        boto3 = require("eks", "boto3", "pushing to ECR")
        client = boto3.client("ecr", region_name=ecr_region(host))
    try:
        data = client.get_authorization_token()["authorizationData"][0]
        user, sep, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    except Exception as exc:
        raise RegistryAuthError(f"ECR token for {host}: {type(exc).__name__}") from None
    if not sep:
        raise RegistryAuthError(f"ECR token for {host}: not USER:PASSWORD")
    return user, password


def google_login(host: str, default: Callable[..., Any] | None = None) -> tuple[str, str]:
    """(`oauth2accesstoken`, access token) from Application Default Credentials;
    `default`: what stands for `google.auth.default` (tests)."""
    if default is None:
        google_auth = require("gcs", "google.auth", f"pushing to {host}")
        default = google_auth.default
    try:
        credentials, _project = default(scopes=GOOGLE_SCOPES)
        if not getattr(credentials, "token", None) or not getattr(credentials, "valid", True):
            requests = require("gcs", "google.auth.transport.requests", f"pushing to {host}")
            credentials.refresh(requests.Request())
        token = credentials.token
    except Exception as exc:
        raise RegistryAuthError(f"Google credentials for {host}: {type(exc).__name__}") from None
    if not token:
        raise RegistryAuthError(f"Google credentials for {host}: no access token")
    return GOOGLE_USER, str(token)


Login = Callable[[str], tuple[str, str]]


@contextmanager
def auth_file(
    host: str, settings: ImageSettings, logins: dict[str, Login] | None = None
) -> Iterator[Path | None]:
    """The auth file to push to `host` with (None: none configured), valid inside the block.

    `logins` replaces the token sources by kind (`ecr`, `google`), for tests."""
    kind = registry_kind(host, settings)
    if kind == "config":
        if settings.auth_file is None:
            yield None
            return
        path = Path(settings.auth_file).expanduser()
        if not path.is_file():
            raise RegistryAuthError(f"images.auth_file {str(path)!r} is not a file")
        yield path
        return
    sources: dict[str, Login] = {"ecr": ecr_login, "google": google_login, **(logins or {})}
    user, password = sources[kind](host)
    folder = Path(tempfile.mkdtemp(prefix="foredeck-auth-"))  # 0700
    try:
        path = folder / "auth.json"
        secret = base64.b64encode(f"{user}:{password}".encode()).decode()
        data = json.dumps({"auths": {host: {"auth": secret}}}).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)
