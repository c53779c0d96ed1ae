"""Database fixtures for the merge pool's tests (SQLite and PostgreSQL)."""

from tests.db.fixtures import db, pg_db, pg_schema_url, sqlite_db

__all__ = ["db", "pg_db", "pg_schema_url", "sqlite_db"]
