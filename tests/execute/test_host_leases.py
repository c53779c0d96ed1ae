"""The lease variables a container step gets: host paths under the job's lease directory become
paths under its read-only mount; names and everything else stay as they are."""

from __future__ import annotations

from foredeck.execute.lease_mount import lease_paths_in_container


def test_lease_paths_point_into_the_containers_mount() -> None:
    env = {
        "FOREDECK_LEASES": "/runs/7/leases",
        "FOREDECK_LEASE_DB_NAME": "/runs/7/leases-not-a-path",
        "FOREDECK_LEASE_DB_DIR": "/runs/7/leases/db-0",
        "FOREDECK_LEASE_DB_URL_FILE": "/runs/7/leases/db-0/url",
        "JOB_NAME": "/runs/7/leases/db-0",
    }

    seen = lease_paths_in_container(env, "/runs/7/leases")

    assert seen == {
        "FOREDECK_LEASES": "/foredeck/leases",
        "FOREDECK_LEASE_DB_NAME": "/runs/7/leases-not-a-path",
        "FOREDECK_LEASE_DB_DIR": "/foredeck/leases/db-0",
        "FOREDECK_LEASE_DB_URL_FILE": "/foredeck/leases/db-0/url",
        "JOB_NAME": "/runs/7/leases/db-0",
    }
    assert env["FOREDECK_LEASES"] == "/runs/7/leases"  # the host steps' copy is unchanged
