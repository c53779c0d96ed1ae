"""Each controller clears its own workdir of workspaces that no job needs any more.

The sinker runs once per installation and removes a job's workspace by the path in its row,
which only works on the sinker's own machine: with controllers on several machines, a workspace
on another one would outlive its row (the sinker finds nothing at that path there and deletes
the row all the same). So every controller also looks at its own `workdir/<job id>`
directories and removes those whose job is gone, or finished before the sinker's `max_age`.
Other names (a requeued run's files moved aside are removed by recovery itself) are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from foredeck.db.models import FINISHED_STATES, Job
from foredeck.execute.removal import Removal, remove_workspace

log = logging.getLogger(__name__)


def workspace_ids(workdir: Path) -> list[int]:
    """The job ids that have a workspace directory under `workdir`."""
    try:
        entries = list(workdir.iterdir())
    except FileNotFoundError:
        return []
    return sorted(int(p.name) for p in entries if p.name.isdigit() and p.is_dir())


def unneeded(session: Session, ids: Iterable[int], cutoff: datetime) -> list[int]:
    """Of `ids`, the jobs that no longer exist or finished before `cutoff`."""
    wanted = list(ids)
    rows = session.execute(
        select(Job.id, Job.state, Job.finished_at).where(Job.id.in_(wanted))
    ).all()
    alive = {
        row.id
        for row in rows
        if row.state not in FINISHED_STATES or row.finished_at is None or row.finished_at >= cutoff
    }
    return [i for i in wanted if i not in alive]


def remove_unneeded(workdir: Path, ids: Iterable[int]) -> list[int]:
    """Delete the workspaces of `ids` under `workdir`; the ids actually removed."""
    root = workdir.resolve()
    removed = []
    for job_id in ids:
        if remove_workspace(str(root / str(job_id)), root) is Removal.REMOVED:
            removed.append(job_id)
    if removed:
        log.info("controller: removed %d workspaces no job needs: %s", len(removed), removed)
    return removed
