"""What the demo prints: job and status tables, build log excerpts, the report comment as read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from foredeck.demo.observe import ScmView

STATE_STYLE = {"success": "green", "failure": "red", "error": "red", "aborted": "yellow"}


def build_dir(job: dict[str, Any], artifacts: Path) -> Path | None:
    """The job's build directory in the demo's `file://` store `artifacts`, in Prow's layout
    (the API's `url` links the dashboard: it shows no server paths)."""
    from foredeck.storage.layout import job_path

    if not job.get("build_id"):
        return None
    try:
        rel = job_path(
            job["type"],
            job.get("org"),
            job.get("repo"),
            job.get("pull_number"),
            job["name"],
            job["build_id"],
        )
    except ValueError:
        return None
    return artifacts / rel


def duration(job: dict[str, Any]) -> str:
    if not job.get("started_at") or not job.get("finished_at"):
        return "-"
    seconds = (
        datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    ).total_seconds()
    return f"{seconds:.1f}s"


def jobs_table(title: str, jobs: Sequence[dict[str, Any]], workdir: Path, artifacts: Path) -> Table:
    """The jobs, each with its build log in the store `artifacts`, relative to `workdir`."""
    table = Table(title=title, title_justify="left")
    for column in ("id", "job", "type", "state", "duration"):
        table.add_column(column, no_wrap=True)
    table.add_column("build log (under the workdir)", overflow="fold")
    for job in jobs:
        state = str(job["state"])
        where = build_dir(job, artifacts)
        log = "-"
        if where is not None:
            log = str(_relative(where / "build-log.txt", workdir))
        table.add_row(
            str(job["id"]),
            str(job["name"]),
            str(job["type"]),
            f"[{STATE_STYLE.get(state, 'white')}]{state}[/]",
            duration(job),
            escape(log),
        )
    return table


def statuses_table(title: str, view: ScmView) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("context", "status", "description"):
        table.add_column(column)
    for context, state, description in view.statuses:
        table.add_row(context, f"[{STATE_STYLE.get(state, 'white')}]{state}[/]", description)
    return table


def _relative(path: Path, base: Path) -> Path:
    try:
        return path.relative_to(base)
    except ValueError:
        return path


def log_excerpt(job: dict[str, Any], artifacts: Path, pattern: str, limit: int = 8) -> str:
    where = build_dir(job, artifacts)
    if where is None:
        return ""
    try:
        lines = (where / "build-log.txt").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join([line for line in lines if pattern in line][:limit])


def visible_text(comment: str) -> str:
    """The comment without its HTML (marker, collapsed help): what a reader sees first."""
    lines = []
    for line in comment.splitlines():
        if line.startswith("<details>"):
            break
        if not line.startswith("<!--"):
            lines.append(line)
    return "\n".join(lines).strip()
