"""Processes that dead runs left on this machine: killed before their jobs end or run again.

A sandboxed step dies with its controller (bubblewrap's PID namespace, `--die-with-parent`). An
unsandboxed one does not: after a `kill -9` of the controller its processes keep running,
re-parented to init. Each carries `FOREDECK_RUN=<owner>/<workdir tag>-<job id>/<step>`
(`execute/orphans.py`), so a controller kills, on this host:

- when it starts, the marked processes of its workdir's runs whose owner's pid is gone,
  whatever became of their jobs meanwhile (another host's controller may have recovered them);
- when it recovers a job of a dead owner, before the job is ended or re-queued, the processes
  marked with that job, and those working inside its workspace (a process that cleared its
  environment, or a sandboxed one that outlived bubblewrap), so that a re-queued job never runs
  beside its first run.

Owners on other hosts are left to their own host's next controller.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from foredeck.controller.queries import StaleJob, owner_host_pid, pid_alive
from foredeck.execute.orphans import kill_marked, parse_marker

log = logging.getLogger(__name__)


def run_name(workdir: Path, job_id: int) -> str:
    """`<workdir tag>-<job id>`, the run part of a job's marker. The tag (of the controller's
    `workdir`) keeps deployments that share a host, and tests, out of each other's leftovers."""
    return f"{_tag(workdir)}-{job_id}"


def _tag(workdir: Path) -> str:
    return hashlib.sha256(str(workdir).encode()).hexdigest()[:12]


def kill_dead_owners(host: str, own: str, workdir: Path) -> list[int]:
    """At start: marked processes of this workdir's runs whose owner on this host is gone."""
    prefix = f"{_tag(workdir)}-"

    def dead(marker: str) -> bool:
        parts = parse_marker(marker)
        if parts is None or not parts[1].startswith(prefix) or parts[0] == own:
            return False
        owner = owner_host_pid(parts[0])
        if owner is None or owner[0] != host or owner[1] == os.getpid():
            return False
        return not pid_alive(owner[1])

    killed = kill_marked(dead)
    if killed:
        log.warning("controller: killed %d processes left by dead runs: %s", len(killed), killed)
    return killed


def kill_job_leftovers(job: StaleJob, host: str) -> list[int]:
    """Before recovering `job` of a dead owner: what its run left here (by marker, whatever
    workdir it ran in, or by working directory)."""
    owner = owner_host_pid(job.owner)
    if owner is None or owner[0] != host:
        return []
    suffix = f"-{job.id}"

    def of_job(marker: str) -> bool:
        parts = parse_marker(marker)
        return parts is not None and parts[0] == job.owner and parts[1].endswith(suffix)

    killed = kill_marked(of_job, cwd_root=job.workspace)
    if killed:
        log.warning("job %d: killed %d processes of its dead run: %s", job.id, len(killed), killed)
    return killed
