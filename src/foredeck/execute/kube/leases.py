"""A job's lease files in its pods: one Secret per run, mounted read-only at `/foredeck/leases`.

Locally the steps read the files the controller wrote into the job's lease directory
(`controller/jobleases.py`); a pod cannot see that directory, so the executor reads it, the runner
puts it into a Secret of the run's namespace and the decoration mounts that where a container
step finds it, `/foredeck/leases/<type>-<i>/<key>`, with the same `FOREDECK_LEASE*` variables
(`execute/lease_mount.py`). Secret keys cannot hold a `/`: `<type>-<i>/<key>` is stored as
`<type>-<i>.<key>` (a type has no `/`, a key no `.`, so no two files share a key) and put back
in place by the volume's `items`.

The Secret is labelled with the job and the run, owned by the Workflow / PipelineRun (Kubernetes'
garbage collector deletes it with the run, also when the controller died), and deleted by the
runner when the run ends. Its data is never logged: `LeaseFiles` shows paths only.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foredeck.execute.lease_mount import LEASES_DIR

LEASES_VOLUME = "foredeck-leases"
RUN_LABEL = "foredeck.dev/run"
MAX_SECRET_BYTES = 1024 * 1024
"""Kubernetes refuses a Secret whose data is over 1 MiB."""
FILE_MODE = 0o444
"""The pod is the job's sandbox and its steps may run as their image's user: readable by all of
its containers that mount it (only the job's own do; the host's copy is 0600)."""


class LeaseFilesError(ValueError):
    """The lease files do not fit in a Secret."""


@dataclass(frozen=True)
class LeaseFiles:
    """The files of a job's lease directory: path below it (`test-db-0/url`) -> content."""

    files: Mapping[str, bytes] = field(repr=False)

    @classmethod
    def read(cls, lease_dir: Path) -> LeaseFiles:
        """The files two levels down (`<type>-<i>/<key>`), as the controller writes them."""
        files = {
            f"{folder.name}/{path.name}": path.read_bytes()
            for folder in sorted(lease_dir.iterdir())
            if folder.is_dir() and not folder.is_symlink()
            for path in sorted(folder.iterdir())
            if path.is_file() and not path.is_symlink()
        }
        size = sum(len(secret_key(p)) + len(v) for p, v in files.items())
        if size > MAX_SECRET_BYTES:
            raise LeaseFilesError(
                f"the job's lease files ({size} bytes) are too large for a Kubernetes Secret "
                f"({MAX_SECRET_BYTES} bytes at most)"
            )
        return cls(files)

    def paths(self) -> tuple[str, ...]:
        return tuple(self.files)

    def secret(self, name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
        """The Secret holding them (base64 `data`, as the API takes it)."""
        data = {secret_key(p): base64.b64encode(v).decode("ascii") for p, v in self.files.items()}
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "data": data,
        }


def secret_key(path: str) -> str:
    """The Secret key of a file `<type>-<i>/<key>`: `<type>-<i>.<key>`."""
    return path.replace("/", ".")


@dataclass(frozen=True)
class LeaseMount:
    """The Secret `secret` holding the files at `paths`, as the decoration mounts it."""

    secret: str
    paths: tuple[str, ...]

    def volume(self) -> dict[str, Any]:
        items = [{"key": secret_key(p), "path": p} for p in self.paths]
        source: dict[str, Any] = {"secretName": self.secret, "defaultMode": FILE_MODE}
        if items:
            source["items"] = items
        return {"name": LEASES_VOLUME, "secret": source}

    @staticmethod
    def mount() -> dict[str, Any]:
        return {"name": LEASES_VOLUME, "mountPath": LEASES_DIR, "readOnly": True}


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference to a created object (its `uid` is the server's): the Secret goes with
    it. No `blockOwnerDeletion`, which needs rights on the owner's finalizers."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
    }
