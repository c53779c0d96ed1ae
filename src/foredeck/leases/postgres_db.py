"""`postgres-database`: a database and a login role of the same name per lease.

The name is `{prefix}_{lease id}`; the role owns the database, and the holder gets a URL with
the role's own random password (never the admin's). The admin URL needs CREATEDB and
CREATEROLE (or a superuser).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Any

from sqlalchemy import Engine, text

from foredeck.db.engine import make_engine, normalize_url
from foredeck.leases.provider import check_lease_id

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class PostgresDatabases:
    kind = "postgres-database"

    def __init__(self, admin_url: str, prefix: str) -> None:
        self._url = normalize_url(admin_url)
        self.prefix = prefix
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self._url, isolation_level="AUTOCOMMIT", pool_size=2)
        return self._engine

    def name_for(self, lease_id: str) -> str:
        return f"{self.prefix}_{check_lease_id(lease_id)}"

    def _checked(self, name: str) -> str:
        # Identifiers cannot be bound parameters: only names of this exact form are quoted in.
        if not _NAME.match(name) or not name.startswith(f"{self.prefix}_"):
            raise ValueError(f"postgres-database: not a name of ours: {name!r}")
        return name

    def create(self, name: str, lease_id: str) -> dict[str, Any]:
        name = self._checked(name)
        password = secrets.token_hex(16)
        verifier = scram_verifier(password)  # base64 and `$:`: safe inside a quoted literal
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{verifier}'")
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" OWNER "{name}"')
            lease = check_lease_id(lease_id)
            conn.exec_driver_sql(f"COMMENT ON DATABASE \"{name}\" IS 'foredeck lease {lease}'")
        url = self._url.set(
            drivername="postgresql", username=name, password=password, database=name
        )
        return {
            "database": name,
            "url": url.render_as_string(hide_password=False),
            "host": self._url.host,
            "port": self._url.port,
        }

    def delete(self, name: str) -> None:
        name = self._checked(name)
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')

    def list_owned(self) -> list[str]:
        pattern = self.prefix.replace("_", r"\_") + r"\_%"
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT datname FROM pg_database WHERE datname LIKE :p "
                    "UNION SELECT rolname FROM pg_roles WHERE rolname LIKE :p"
                ),
                {"p": pattern},
            )
            return sorted(n for n in rows.scalars() if _NAME.match(n))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677), made here
    so that the clear password never reaches the server's statement log."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
