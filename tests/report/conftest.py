from tests.db.fixtures import db, pg_db, pg_schema_url, sqlite_db
from tests.doubles.github_api import github_double

__all__ = ["db", "github_double", "pg_db", "pg_schema_url", "sqlite_db"]
