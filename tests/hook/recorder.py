"""A test plugin that records every handling in the database, in the event's transaction.

Rows are not unique per delivery on purpose: a delivery handled twice shows up twice. Used by the
worker tests and, through `Settings.worker.plugins`, by the server subprocess of the crash test.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from foredeck.db import make_engine
from foredeck.hook.events import StoredEvent
from foredeck.settings import Settings

metadata = MetaData()
handled = Table(
    "test_handled",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(100), nullable=False),
    Column("plugin", String(50), nullable=False),
)


def create_table(engine: Engine) -> None:
    metadata.create_all(engine)


def handled_counts(engine: Engine, plugin: str | None = None) -> dict[str, int]:
    stmt = select(handled.c.delivery_id, func.count()).group_by(handled.c.delivery_id)
    if plugin is not None:
        stmt = stmt.where(handled.c.plugin == plugin)
    with engine.connect() as conn:
        return {row[0]: int(row[1]) for row in conn.execute(stmt)}


class Recorder:
    def __init__(self, name: str = "recorder", delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay
        self.seen: list[StoredEvent] = []

    def handle(self, event: StoredEvent, session: Session) -> None:
        self.seen.append(event)
        session.execute(insert(handled).values(delivery_id=event.delivery_id, plugin=self.name))
        if self.delay:
            time.sleep(self.delay)


def factory(settings: Settings) -> Recorder:
    """`tests.hook.recorder:factory`: creates its table, then records every event."""
    engine = make_engine(settings.database_url)
    try:
        create_table(engine)
    finally:
        engine.dispose()
    options: dict[str, Any] = settings.plugin_config.get("recorder", {})
    return Recorder(delay=float(options.get("delay", 0.0)))
