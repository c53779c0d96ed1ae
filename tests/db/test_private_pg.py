"""A laptop without a PostgreSQL service still runs the PostgreSQL tests: a private server."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sqlalchemy import text

from foredeck.db import make_engine, migrate
from tests.pgserver import private_server, sqlalchemy_url


def test_a_private_server_starts_takes_the_schema_and_goes() -> None:
    # Not under pytest's 0700 temp root: as root, the server runs as a user of its own, which
    # must reach its data directory.
    base = Path(tempfile.mkdtemp(prefix="foredeck-pg-", dir="/var/tmp"))
    pgdata = base / "pgdata"
    try:
        with private_server(pgdata, cleanup_mode="delete") as server:
            url = sqlalchemy_url(server)
            assert url.startswith("postgresql+psycopg://postgres@/postgres?host=")
            migrate(url)
            engine = make_engine(url)
            try:
                with engine.connect() as conn:
                    query = text("SELECT count(*) FROM pg_tables WHERE tablename = 'jobs'")
                    assert conn.execute(query).scalar_one() == 1
            finally:
                engine.dispose()
        assert not pgdata.exists()  # stopped and deleted with the last handle
    finally:
        shutil.rmtree(base, ignore_errors=True)
