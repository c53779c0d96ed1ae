"""What a job may not see: the sandbox of the `local` executor's steps, built from settings.

The hidden list is derived from the settings themselves, so that a new deployment path (a
different database file, workdir or token file) is hidden without anyone keeping a list: the
settings file, the SQLite database, every run's workdir (other jobs' checkouts and logs), the
mirrors, a local artifact store, credential files, and the credential folders of the server
user's home. `controller.sandbox.hide` adds more.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from foredeck.execute.sandbox import Sandbox, make_sandbox
from foredeck.settings import Settings
from foredeck.storage.store import local_path

log = logging.getLogger(__name__)

HOME_CREDENTIALS = (
    ".aws",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".docker",
    ".git-credentials",
    ".gnupg",
    ".kube",
    ".netrc",
    ".pgpass",
    ".pypirc",
    ".ssh",
)
"""Where common tools keep the server user's credentials, relative to its home."""

CREDENTIAL_VARIABLES = (
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "KUBECONFIG",
    "PGPASSFILE",
)
"""Variables of the server's environment that name credential files."""

SOCKETS = (
    "/run/postgresql",
    "/var/run/postgresql",
    "/run/mysqld",
    "/var/run/mysqld",
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/podman",
    "/run/containerd",
)
"""Local service sockets a step must not reach through the file system (a trust-auth
PostgreSQL socket would hand it foredeck's database)."""


def hidden_paths(settings: Settings) -> list[str]:
    """Every path of this deployment that holds foredeck's state or credentials."""
    paths: list[str | Path] = []
    if settings.source is not None:
        paths.append(settings.source)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = url.database.removeprefix("file:").split("?", 1)[0]
        paths += [database + suffix for suffix in ("", "-wal", "-shm", "-journal")]
    c = settings.controller
    paths += [c.workdir, c.mirror_dir]
    try:
        store = local_path(settings.artifacts.url)
    except ValueError:
        store = None
    if store is not None:
        paths.append(store)
    github = settings.github
    paths += [p for p in (github.token_file, github.private_key_file) if p]
    if settings.kube.kubeconfig:
        paths.append(settings.kube.kubeconfig)
    paths += [os.environ[v] for v in CREDENTIAL_VARIABLES if os.environ.get(v)]
    home = Path.home()
    paths += [home / name for name in HOME_CREDENTIALS]
    paths += SOCKETS
    paths += c.sandbox.hide
    return [os.path.abspath(os.path.expanduser(str(p))) for p in paths]


def job_sandbox(settings: Settings) -> Sandbox:
    """The sandbox of host steps; raises `SandboxError` when `mode: bwrap` cannot
    run here, and warns (once per controller) when `auto` falls back to none."""
    config = settings.controller.sandbox
    sandbox, warning = make_sandbox(
        config.mode,
        hidden=hidden_paths(settings),
        shared=config.bind,
        network=config.network,
        run_as=config.user,
    )
    if warning is not None:
        log.warning("controller: %s", warning)
    return sandbox
