"""What every artifact store back end shares, below the `ArtifactStore` interface.

The interface module (`store.py`) opens back ends by URL, so it imports them; they import only
this module and `paths.py`, never `store.py` or each other, so the package has no cycle. Here:
the listing `Entry`, the bound on `read_range`, the bounds on presigned links, and the plan of a
directory upload (names checked up front, symlinks and the local store's temporary files left
out) that `upload_dir` follows on every back end.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from foredeck.storage.paths import clean_path

log = logging.getLogger(__name__)

MAX_RANGE = 64 * 1024 * 1024
"""Largest `read_range` length: a log viewer pages, it never pulls a whole 1 GB log at once."""

DEFAULT_PRESIGN_EXPIRES = 3600
"""Seconds a presigned link stays valid: long enough to read a log, short enough to leak little."""
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
"""The upper bound on a presigned URL's lifetime (SigV4's, and GCS V4's)."""

TMP_MARK = ".foredeck-tmp-"
"""In the name of the local store's temporary files, which listings and uploads skip."""


@dataclass(frozen=True)
class Entry:
    """A listing entry; `path` is relative to the store root, `size` is 0 for directories."""

    path: str
    size: int
    is_dir: bool


def check_range(start: int, length: int) -> None:
    if start < 0 or length < 0:
        raise ValueError(f"invalid range start={start} length={length}: must not be negative")
    if length > MAX_RANGE:
        raise ValueError(f"range length {length} exceeds the {MAX_RANGE}-byte limit")


def check_expires(expires: int) -> int:
    if not 1 <= expires <= MAX_PRESIGN_EXPIRES:
        raise ValueError(f"presign expiry {expires}s must be between 1 and {MAX_PRESIGN_EXPIRES}")
    return expires


def join_rel(base: str, rel: str) -> str:
    """`base/rel` for store-relative paths, where `base` may be the root (`""`)."""
    return f"{base}/{rel}" if base else rel


def upload_dir(upload_file: Callable[[Path, str], None], local_dir: Path, prefix: str) -> list[str]:
    """`ArtifactStore.upload_dir` through a back end's `upload_file`: the store paths written."""
    plan = plan_upload(Path(local_dir), prefix)
    for dest, local in plan:
        upload_file(local, dest)
    return [dest for dest, _ in plan]


def plan_upload(
    local_dir: Path, prefix: str, *, skip_top: Collection[str] = ()
) -> list[tuple[str, Path]]:
    """(store path, local file) pairs for a directory upload, every name checked up front so
    that a bad file name fails the upload before anything is written. Top-level entries named
    in `skip_top` are left out (and not even walked)."""
    base = clean_path(prefix, prefix=True)
    plan = []
    for rel, local in iter_local_files(local_dir, skip_top=skip_top):
        try:
            plan.append((clean_path(join_rel(base, rel)), local))
        except ValueError as exc:
            raise ValueError(f"cannot upload {local}: {exc}") from None
    return sorted(plan)


def iter_local_files(
    local_dir: Path, *, warn: bool = True, skip_top: Collection[str] = ()
) -> Iterator[tuple[str, Path]]:
    """Regular files under `local_dir` as (posix relative path, path), sorted, symlinks skipped."""
    if not local_dir.is_dir():
        raise NotADirectoryError(f"{local_dir} is not a directory")
    for dirpath, dirnames, filenames in os.walk(local_dir):
        current = Path(dirpath)
        if current == local_dir and skip_top:
            dirnames[:] = [d for d in dirnames if d not in skip_top]
            filenames = [f for f in filenames if f not in skip_top]
        for name in list(dirnames):
            if (current / name).is_symlink():
                dirnames.remove(name)
                if warn:
                    log.warning("skipping symlinked directory %s", current / name)
        dirnames.sort()
        for name in sorted(filenames):
            local = current / name
            if TMP_MARK in name:
                continue
            if local.is_symlink() or not local.is_file():
                if warn:
                    log.warning("skipping %s: not a regular file", local)
                continue
            yield local.relative_to(local_dir).as_posix(), local
