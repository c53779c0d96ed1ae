"""The pools of the last sync in `tide_pools`, for the dashboard's pool page (another process
may serve it: components share state through the database only)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, delete

from foredeck.db.engine import session_factory, write_lock
from foredeck.db.models import TidePool
from foredeck.db.types import utcnow
from foredeck.tide.pool import PoolState


def save_pools(engine: Engine, pools: Sequence[PoolState]) -> None:
    """Replace the recorded pools by `pools`, in one short transaction."""
    now = utcnow()
    with write_lock(engine), session_factory(engine).begin() as session:
        session.execute(delete(TidePool))
        session.add_all(
            TidePool(
                org=pool.org,
                repo=pool.repo,
                branch=pool.branch,
                base_sha=pool.base_sha,
                action=pool.action[:255],
                pulls=pool.pulls,
                synced_at=now,
            )
            for pool in pools
        )
