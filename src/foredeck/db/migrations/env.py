"""Alembic environment: runs only on the connection handed over by `foredeck.db.migrate`."""

from __future__ import annotations

from alembic import context

from foredeck.db.migrate import VERSION_TABLE
from foredeck.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through foredeck.db.migrate(url), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
