"""State: the event log and jobs, on SQLite (default) or PostgreSQL.

The rest of foredeck reaches the database only through this package.
"""

from foredeck.db.engine import make_engine, normalize_url, read_only, session_factory
from foredeck.db.migrate import migrate
from foredeck.db.models import Base, Event, EventPayload, Job, ScmComment, ScmStatus

__all__ = [
    "Base",
    "Event",
    "EventPayload",
    "Job",
    "ScmComment",
    "ScmStatus",
    "make_engine",
    "migrate",
    "normalize_url",
    "read_only",
    "session_factory",
]
