"""The secrets a job's logs and artifacts are censored of (`foredeck.censor`, docs/security.md).

Collected at each job's start, so that a rotated token file is censored from the next job on:
the secrets of foredeck's settings (webhook secrets, the API and metrics tokens, the logins'
client secrets, the GitHub token or App key,
the passwords in the database and lease provider URLs, the registry credentials of
`images.auth_file`), the well-known credential variables of the controller's environment, the
`censor:` section's values, variables and files, and what the job itself is handed: the secrets
in its leases' user data (`censor/values.py`) and the credentials in its clone URLs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from foredeck.censor import Censor
from foredeck.censor.values import secrets_in, url_password
from foredeck.leases import Lease
from foredeck.scm.clone_records import url_secrets
from foredeck.settings import PostgresDatabaseProvider, Settings
from foredeck.types import Refs

CREDENTIAL_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "FOREDECK_API__TOKEN",
)
"""Variables of the controller's environment that hold credentials wherever they are set."""
MAX_SECRET_FILE_BYTES = 1024 * 1024


class SecretsError(Exception):
    """A secret file could not be read; the message names the file, never its content."""


def _read(path: Path, what: str) -> str:
    try:
        if path.stat().st_size > MAX_SECRET_FILE_BYTES:
            raise SecretsError(f"{what} {path} is over {MAX_SECRET_FILE_BYTES} bytes")
        return path.read_bytes().decode("utf-8", errors="surrogateescape")
    except OSError as exc:
        raise SecretsError(f"{what} {path}: {exc.strerror or type(exc).__name__}") from None


def _files(names: Iterable[str]) -> list[str]:
    """The contents of the `censor.files` (a directory: each file in it, not `..data`)."""
    found = []
    for name in names:
        path = Path(name).expanduser()
        if path.is_dir():
            children = sorted(p for p in path.iterdir() if not p.name.startswith(".."))
            found += [_read(p, "censor.files entry") for p in children if p.is_file()]
        else:
            found.append(_read(path, "censor.files entry"))
    return found


def _docker_config(path: str | None) -> list[str]:
    if path is None or not Path(path).expanduser().is_file():
        return []
    text = _read(Path(path).expanduser(), "images.auth_file")
    try:
        return secrets_in(json.loads(text))
    except ValueError:
        return []


def settings_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """The secrets of foredeck's own settings and environment (see the module docstring)."""
    env = os.environ if environ is None else environ
    hook, github, c = settings.hook, settings.github, settings.censor
    values = [*hook.secrets, *(v for vs in hook.org_secrets.values() for v in vs)]
    values += [v for vs in hook.repo_secrets.values() for v in vs]
    logins = [login for login in (settings.api.oidc, settings.api.github_login) if login]
    tokens = [github.token, settings.api.token, settings.metrics.token]
    tokens += [login.client_secret for login in logins]
    values += [v for v in tokens if v is not None]
    values += c.values
    found = [v.get_secret_value() for v in values]
    files = [(github.token_file, "github.token_file"), (github.private_key_file, "github key")]
    files += [(settings.metrics.token_file, "metrics.token_file")]
    files += [(login.client_secret_file, "a login's client_secret_file") for login in logins]
    for path, what in files:
        if path is not None and Path(path).expanduser().is_file():
            found.append(_read(Path(path).expanduser(), what))
    for kind in settings.leases.types:
        if isinstance(kind.provider, PostgresDatabaseProvider):
            found.append(url_password(kind.provider.url.get_secret_value()) or "")
    found.append(url_password(settings.database_url) or "")
    found += [env[name] for name in (*CREDENTIAL_VARIABLES, *c.env) if env.get(name)]
    found += _docker_config(settings.images.auth_file)
    found += _files(c.files)
    return [value for value in found if value]


def job_secrets(leases: Sequence[Lease], refs: Sequence[Refs]) -> list[str]:
    """What a job is handed: its leases' secrets, its clone URLs' credentials."""
    found: list[str] = []
    for lease in leases:
        data: Any = lease.user_data
        found += secrets_in(data)
    for one in refs:
        found += url_secrets(one.clone_uri)
    return found


def job_censor(
    settings: Settings, leases: Sequence[Lease] = (), refs: Sequence[Refs] = ()
) -> Censor:
    """The censor of one job (`SecretsError` when a secret file cannot be read)."""
    values = settings_secrets(settings) + job_secrets(leases, refs)
    return Censor(values, min_length=settings.censor.min_length)
