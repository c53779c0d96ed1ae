"""Where a job's lease files are for a step that does not run on the host.

The controller writes them on the host (`controller/jobleases.py`) and names them in the
`FOREDECK_LEASE*` variables. A container step (podman) gets that directory mounted read-only at
`LEASES_DIR`, and a pod (Argo, Tekton) the same files from a Secret mounted there: both see the
same paths, so one translation of the variables serves both.
"""

from __future__ import annotations

from collections.abc import Mapping

LEASES_DIR = "/foredeck/leases"
"""The job's lease files (`$FOREDECK_LEASES`) in a container or pod, read-only."""


def lease_paths_in_container(env: Mapping[str, str], lease_dir: str) -> dict[str, str]:
    """`env` with the `FOREDECK_LEASE*` paths under `lease_dir` (the host's) as the container
    sees them, under `LEASES_DIR`; names and other variables as they are."""
    out = dict(env)
    for name, value in env.items():
        if not name.startswith("FOREDECK_LEASE"):
            continue
        if value == lease_dir:
            out[name] = LEASES_DIR
        elif value.startswith(lease_dir + "/"):
            out[name] = LEASES_DIR + value[len(lease_dir) :]
    return out
