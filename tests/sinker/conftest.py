from tests.db.fixtures import db, pg_db, pg_schema_url, sqlite_db
from tests.kit.kube import kube_double

__all__ = ["db", "kube_double", "pg_db", "pg_schema_url", "sqlite_db"]
