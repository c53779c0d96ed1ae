"""The artifact store interface, and `open_store(url)` that picks a back end by URL scheme.

One small protocol keeps every consumer (the executor publishing a run, the dashboard paging
through a 1 GB build log) independent of where artifacts live. `file://` (or a bare path) is a
directory on disk; any other scheme goes through fsspec: `s3://bucket/prefix` (s3fs, the `s3`
extra), `gs://bucket/prefix` (gcsfs, the `gcs` extra), and `memory://` serves tests.

The methods are synchronous (the local and fsspec back ends are); async callers wrap them in
`asyncio.to_thread`.

This module is the interface: consumers import it, and `open_store` imports a back end
(`local.py`, `fsspec_store.py`) only when a store of its kind is opened. The back ends import
`backend.py` and `paths.py` below it, never this module, so the package has no import cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from foredeck.extras import require
from foredeck.storage.backend import Entry

__all__ = ["ArtifactStore", "Entry", "lazy_store", "local_path", "open_store"]

_log = logging.getLogger(__name__)


@runtime_checkable
class ArtifactStore(Protocol):
    """Objects under one root. Every path is store-relative and checked by `clean_path`."""

    url: str
    """The root as a URL (`file:///srv/artifacts`, `gs://bucket/prefix`)."""

    def write_bytes(self, path: str, data: bytes) -> None:
        """Replace `path` atomically: readers see the old content or the new, never a mix."""

    def write_text(self, path: str, text: str) -> None: ...

    def open_write(self, path: str) -> AbstractContextManager[BinaryIO]:
        """Stream a large object; it appears (atomically) only when the block exits cleanly."""

    def upload_file(self, local_path: Path, path: str) -> None: ...

    def upload_dir(self, local_dir: Path, prefix: str) -> list[str]:
        """Copy a local tree under `prefix`; returns the store paths written. Symlinks are
        skipped: a job must not be able to publish files from outside its output directory."""

    def read_bytes(self, path: str) -> bytes: ...

    def read_range(self, path: str, start: int, length: int) -> bytes:
        """Up to `length` bytes from `start` (fewer at the end; `b""` past it)."""

    def size(self, path: str) -> int: ...

    def exists(self, path: str) -> bool:
        """Whether an object (not a directory) exists at `path`."""

    def list(self, prefix: str = "", *, recursive: bool = False) -> list[Entry]:
        """Entries under the directory `prefix` (one level, or all files), sorted by path."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete the object or directory `prefix` and everything below; returns files removed."""

    def url_for(self, path: str) -> str:
        """A link to `path` (under `link_base` when the store was opened with one)."""


def local_path(url: str) -> Path | None:
    """The directory of a local store URL (a path or `file://`); None for a remote store."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"", "file"}:
        return None
    if scheme == "file" and parts.netloc not in {"", "localhost", ".", ".."}:
        raise ValueError(f"file URL {url!r} names a host; use file:///absolute/path")
    raw = unquote(parts.path) if scheme == "file" else url
    if scheme == "file" and parts.netloc in {".", ".."}:  # file://./dir: relative to cwd
        raw = parts.netloc + raw
    if not raw:
        raise ValueError("empty store path")
    return Path(raw)


def open_store(url: str, *, link_base: str | None = None, **options: Any) -> ArtifactStore:
    """Open the store at `url`: a path, `file://` (`file://./dir` is relative to the working
    directory), or any fsspec protocol (`s3://`, `gs://`). A scheme whose extra is not installed
    raises `MissingExtra` (an `ImportError`).

    `link_base` makes `url_for` return `link_base/<path>` (e.g. the dashboard's artifact route).
    `options` go to the fsspec filesystem (credentials, endpoint, ...).
    """
    local = local_path(url)
    if local is not None:
        from foredeck.storage.local import LocalStore

        return LocalStore(local, link_base=link_base)
    scheme = urlsplit(url).scheme.lower()

    from fsspec.core import url_to_fs
    from fsspec.registry import known_implementations

    from foredeck.storage.fsspec_store import FsspecStore
    from foredeck.storage.gcs import GCS_SCHEMES, open_gcs_filesystem
    from foredeck.storage.s3 import S3_SCHEMES, WHAT

    if scheme not in known_implementations:
        raise ValueError(f"unknown artifact store scheme {scheme!r} in {url!r}")
    if scheme in S3_SCHEMES:
        require("s3", "s3fs", WHAT)  # before fsspec's own multi-line hint
    if scheme in GCS_SCHEMES:
        fs, root = open_gcs_filesystem(url, options)
    else:
        fs, root = url_to_fs(url, **options)
    return FsspecStore(fs, root, url=url, link_base=link_base)


def lazy_store(url: str, given: ArtifactStore | None = None) -> Callable[[], ArtifactStore | None]:
    """A getter that opens the store at `url` on first use (or returns `given`), so that a page
    or API answer that needs no artifacts never waits on the store; None (logged) when it
    cannot be opened, and the next call tries again."""
    stores: list[ArtifactStore] = [given] if given is not None else []

    def get() -> ArtifactStore | None:
        if not stores:
            try:
                stores.append(open_store(url))
            except (OSError, ValueError, ImportError) as exc:
                _log.warning("artifact store %s unavailable: %s", url, exc)
                return None
        return stores[0]

    return get
