"""PR history as Prow draws it: rows are jobs, columns the pull request's head commits (newest
first), each cell the job's latest run on that commit, with how many runs it had."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from foredeck.dashboard.queries import CommitRuns
from foredeck.db.testresults import FAILED_STATES, PASSED_STATES


@dataclass(frozen=True)
class Cell:
    job_id: int
    state: str
    runs: int
    flaky: bool
    """The job both failed and passed on this commit."""


@dataclass(frozen=True)
class JobRow:
    name: str
    cells: list[Cell | None]


def pr_grid(groups: Sequence[CommitRuns]) -> list[JobRow]:
    """One row per job name (sorted), one cell per commit group (in the groups' order)."""
    names = sorted({job.name for group in groups for job in group.jobs})
    rows = {name: JobRow(name, [None] * len(groups)) for name in names}
    for column, group in enumerate(groups):
        by_name: dict[str, list[str]] = {}
        latest: dict[str, int] = {}
        for job in group.jobs:  # newest first
            by_name.setdefault(job.name, []).append(job.state)
            latest.setdefault(job.name, job.id)
        for name, states in by_name.items():
            flaky = bool(set(states) & PASSED_STATES and set(states) & FAILED_STATES)
            rows[name].cells[column] = Cell(latest[name], states[0], len(states), flaky)
    return [rows[name] for name in names]
