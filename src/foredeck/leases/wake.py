"""Waking acquirers when a resource may have become free, instead of letting them poll.

Every release (and every cleaned or newly made resource) bumps a generation counter. In one
process that is a `threading.Condition`; across processes on PostgreSQL the change also sends
`NOTIFY foredeck_leases`, and one listener thread per process and database (its own
connection, `LISTEN`) bumps the counter for each notification. An acquirer that found nothing
free waits until the generation moves or its poll interval ends, whichever is first: a lost
notification (a reconnect) costs one poll interval, never a lease.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

from foredeck.extras import require

CHANNEL = "foredeck_leases"
log = logging.getLogger(__name__)


class Wakeups:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def bump(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Until the generation differs from `seen`, at most `timeout` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != seen, timeout)


_by_database: dict[str, Wakeups] = {}
_guard = threading.Lock()


def wakeups_for(engine: Engine) -> Wakeups:
    """The process's wakeups for `engine`'s database; on PostgreSQL with a listener running."""
    key = engine.url.render_as_string(hide_password=True)
    with _guard:
        found = _by_database.get(key)
        if found is None:
            found = _by_database[key] = Wakeups()
            if engine.dialect.name == "postgresql":
                conninfo = engine.url.set(drivername="postgresql")
                target = conninfo.render_as_string(hide_password=False)
                threading.Thread(
                    target=_listen, args=(target, found), name="lease-listen", daemon=True
                ).start()
    return found


def bump(engine: Engine) -> None:
    """Wake this process's acquirers waiting on `engine`'s database, if any wait."""
    with _guard:
        found = _by_database.get(engine.url.render_as_string(hide_password=True))
    if found is not None:
        found.bump()


def _listen(conninfo: str, wakeups: Wakeups) -> None:
    psycopg = require("postgres", "psycopg", "lease wakeups on PostgreSQL")
    while True:
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                wakeups.bump()  # whatever was sent while (re)connecting
                for _ in conn.notifies():
                    wakeups.bump()
        except Exception as exc:
            log.warning("lease wakeups: %s; polling until reconnected", exc)
            time.sleep(5)
