"""The local provider's commit statuses and comments: foredeck's `scm_statuses` and
`scm_comments` tables, written without waiting for the commit.

The trigger plugin comments (`/test ?` help, for example) inside the event worker's
transaction; on SQLite that transaction holds the only write lock, so a second transaction
awaited there would wait for ever. Writes are therefore queued to one writer thread per client,
which commits each in a short transaction of its own under `write_lock`, and reads of the same
client see its queued writes at once. Comment and status ids are allocated here (`new_id`), not
by the database, so that a new comment has its id at once.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from foredeck.db.engine import read_only, session_factory, write_lock
from foredeck.db.models import ScmComment, ScmStatus
from foredeck.scm.local.pulls import CommentRow

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 3
SHAS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class StatusRow:
    """The status of one context on one commit (the latest wins)."""

    id: int
    org: str
    repo: str
    sha: str
    context: str
    state: str
    description: str | None
    target_url: str | None
    created_at: datetime
    updated_at: datetime


_id_lock = threading.Lock()
_last_id = 0


def new_id() -> int:
    """A unique id for a comment or status row: seconds since the epoch and 22 random bits.

    Increasing within a process, unique across processes with overwhelming probability, and
    below 2**53 so that JavaScript reads it exactly.
    """
    global _last_id
    with _id_lock:
        candidate = (int(time.time()) << 22) | secrets.randbits(22)
        _last_id = max(candidate, _last_id + 1)
        return _last_id


_Op = Callable[[Session], None]


class _Writer:
    """One thread committing queued writes, each in a short transaction under `write_lock`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._queue: queue.SimpleQueue[tuple[_Op, Callable[[], None]] | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._outstanding = 0
        self._thread: threading.Thread | None = None

    def submit(self, op: _Op, done: Callable[[], None]) -> None:
        with self._cond:
            self._outstanding += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="foredeck-local-scm-writer", daemon=True
                )
                self._thread.start()
        self._queue.put((op, done))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued write is committed (or given up); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        with self._cond:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            op, done = item
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    with write_lock(self._engine), self._sessions() as s, s.begin():
                        op(s)
                    break
                except Exception:
                    if attempt + 1 == WRITE_ATTEMPTS:
                        log.exception("local SCM: a write failed %d times; dropped", attempt + 1)
                    else:
                        time.sleep(0.1 * (attempt + 1))
            done()
            with self._cond:
                self._outstanding -= 1
                self._cond.notify_all()


def _upsert_status(session: Session, row: StatusRow) -> None:
    dialect = session.get_bind().dialect.name
    values = {
        "id": row.id,
        "org": row.org,
        "repo": row.repo,
        "sha": row.sha,
        "context": row.context,
        "state": row.state,
        "description": row.description,
        "target_url": row.target_url,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    changed = {k: values[k] for k in ("state", "description", "target_url", "updated_at")}
    keys = ["org", "repo", "sha", "context"]
    if dialect == "postgresql":
        pg = postgresql.insert(ScmStatus).values(values)
        session.execute(pg.on_conflict_do_update(index_elements=keys, set_=changed))
    else:
        lite = sqlite.insert(ScmStatus).values(values)
        session.execute(lite.on_conflict_do_update(index_elements=keys, set_=changed))


class ScmState:
    """Reads and queued writes of one client. A read returns the committed rows with this
    client's queued writes applied; `flush()` waits until they are committed."""

    def __init__(self, engine: Engine) -> None:
        self._reader = read_only(engine)
        self._writer = _Writer(engine)
        self._lock = threading.Lock()
        self._comments: dict[int, tuple[int, CommentRow | None]] = {}
        self._statuses: dict[tuple[str, str, str, str], tuple[int, StatusRow]] = {}
        self._version = 0

    def flush(self, timeout: float = 30.0) -> bool:
        return self._writer.flush(timeout)

    def close(self) -> None:
        self._writer.close()

    def _queue(self, key: Any, store: dict[Any, tuple[int, Any]], value: Any, op: _Op) -> None:
        """Queue `op`; reads see `value` under `key` until it is committed."""
        with self._lock:
            self._version += 1
            version = self._version
            store[key] = (version, value)

        def done() -> None:
            with self._lock:
                if store.get(key, (None,))[0] == version:
                    del store[key]

        self._writer.submit(op, done)

    # comments

    def comments(self, where: ColumnElement[bool]) -> dict[int, CommentRow]:
        """Committed rows matching `where`, with this client's queued writes applied.

        The queue is copied before the database is read: a write committed in between is then
        in the rows, and one still queued is in the copy. Queued rows are added whether or not
        they match `where`: callers filter.
        """
        with self._lock:
            pending = {k: v for k, (_, v) in self._comments.items()}
        with session_factory(self._reader)() as s, s.begin():
            found = {
                r.id: CommentRow(
                    r.id, r.org, r.repo, r.number, r.author, r.body, r.created_at, r.updated_at
                )
                for r in s.execute(select(ScmComment).where(where)).scalars()
            }
        for comment_id, row in pending.items():
            if row is None:
                found.pop(comment_id, None)
            else:
                found[comment_id] = row
        return found

    def add_comment(self, row: CommentRow) -> None:
        def insert(s: Session) -> None:
            s.add(ScmComment(**asdict(row)))

        self._queue(row.id, self._comments, row, insert)

    def edit_comment(self, row: CommentRow) -> None:
        def edit(s: Session) -> None:
            s.execute(
                update(ScmComment)
                .where(ScmComment.id == row.id)
                .values(body=row.body, updated_at=row.updated_at)
            )

        self._queue(row.id, self._comments, row, edit)

    def delete_comment(self, comment_id: int) -> None:
        def remove(s: Session) -> None:
            s.execute(delete(ScmComment).where(ScmComment.id == comment_id))

        self._queue(comment_id, self._comments, None, remove)

    # statuses

    def statuses(self, org: str, repo: str, sha: str) -> dict[str, StatusRow]:
        """The status of each context on a commit, with this client's queued writes applied."""
        return self.statuses_of(org, repo, [sha]).get(sha, {})

    def statuses_of(
        self, org: str, repo: str, shas: Sequence[str]
    ) -> dict[str, dict[str, StatusRow]]:
        """`statuses` of each commit in `shas`, in one query."""
        wanted = set(shas)
        with self._lock:
            pending = [v for k, (_, v) in self._statuses.items() if k[:2] == (org, repo)]
        found: dict[str, dict[str, StatusRow]] = {sha: {} for sha in wanted}
        ordered = sorted(wanted)
        chunks = [ordered[i : i + SHAS_PER_QUERY] for i in range(0, len(ordered), SHAS_PER_QUERY)]
        with session_factory(self._reader)() as s, s.begin():
            for chunk in chunks:
                where = (ScmStatus.org == org) & (ScmStatus.repo == repo)
                for r in s.execute(
                    select(ScmStatus).where(where, ScmStatus.sha.in_(chunk))
                ).scalars():
                    found[r.sha][r.context] = StatusRow(
                        r.id,
                        r.org,
                        r.repo,
                        r.sha,
                        r.context,
                        r.state,
                        r.description,
                        r.target_url,
                        r.created_at,
                        r.updated_at,
                    )
        for row in pending:
            if row.sha in wanted:
                found[row.sha][row.context] = row
        return found

    def set_status(self, row: StatusRow) -> None:
        key = (row.org, row.repo, row.sha, row.context)
        self._queue(key, self._statuses, row, lambda s: _upsert_status(s, row))
