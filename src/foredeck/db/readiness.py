"""The database check behind every app's `/readyz` (`foredeck.web.probes`)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, column, select, table

from foredeck.db.engine import error_line, read_only
from foredeck.db.migrate import VERSION_TABLE


class NotReady(RuntimeError):
    """The database did not answer; the message is the driver's, in one line."""


def database_check(engine: Engine) -> Callable[[], None]:
    """A short read of the schema version through `read_only(engine)`: on SQLite it never
    queues behind a writer, not even one in another process."""
    reader = read_only(engine)

    def check() -> None:
        try:
            with reader.connect() as conn:
                conn.execute(
                    select(column("version_num")).select_from(table(VERSION_TABLE))
                ).first()
        except Exception as exc:
            raise NotReady(error_line(exc)) from None

    return check
