"""An `ArtifactStore` over any fsspec filesystem: S3 (`s3fs`), GCS (`gcsfs`), memory (tests).

Object stores replace an object atomically on upload, so unlike the local store no temporary
object is needed. Streamed writes are spooled to a local temporary file and uploaded when the
writer finishes, so a writer that fails leaves the previous object in place.

Object-store filesystems cache listings (s3fs, with no expiry); other processes (controllers
publishing runs) write the same bucket, so every lookup drops the cached listing first rather
than answer from a stale one.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from foredeck.storage.backend import (
    DEFAULT_PRESIGN_EXPIRES,
    Entry,
    check_expires,
    check_range,
    upload_dir,
)
from foredeck.storage.gcs import GcsSigner, is_gcs
from foredeck.storage.paths import clean_path
from foredeck.storage.s3 import Presigner, is_s3


class FsspecStore:
    """Objects under `root` (a path in `fs`'s own notation, e.g. `bucket/prefix`).

    On S3, and on GCS with credentials that can sign, `url_for` gives presigned (signed) GET
    links valid for `presign_expires` seconds.
    """

    def __init__(
        self,
        fs: Any,
        root: str,
        *,
        url: str,
        link_base: str | None = None,
        presign_expires: int = DEFAULT_PRESIGN_EXPIRES,
    ) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url.rstrip("/")
        self.link_base = link_base.rstrip("/") if link_base else None
        self.presign_expires = check_expires(presign_expires)
        self._presigner = Presigner(fs) if is_s3(fs) else None
        self._gcs_signer = GcsSigner(fs) if is_gcs(fs) else None

    def __repr__(self) -> str:
        return f"FsspecStore({self.url!r})"

    def _full(self, path: str, *, prefix: bool = False) -> str:
        rel = clean_path(path, prefix=prefix)
        return f"{self.root}/{rel}" if rel else self.root

    def _rel(self, full: str) -> str:
        full = full.rstrip("/")
        root = self.root.lstrip("/")
        return full.lstrip("/").removeprefix(root).lstrip("/")

    def _fresh(self, full: str) -> str:
        self.fs.invalidate_cache(full)
        return full

    def _file(self, path: str) -> str:
        full = self._fresh(self._full(path))
        if self.fs.isdir(full):
            raise IsADirectoryError(f"store path {path!r} is a directory")
        return full

    def write_bytes(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(self._full(path), data)

    def write_text(self, path: str, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    @contextlib.contextmanager
    def _stream(self, path: str) -> Iterator[BinaryIO]:
        # Spool to a local file and upload once complete: an fsspec file may commit on open
        # (memory) or on close even after an error, and the object must appear only when whole.
        full = self._full(path)
        with tempfile.NamedTemporaryFile(prefix="foredeck-upload-") as spool:
            yield spool  # type: ignore[misc]
            spool.flush()
            self.fs.put_file(spool.name, full)

    def open_write(self, path: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return self._stream(path)

    def upload_file(self, local_path: Path, path: str) -> None:
        self.fs.put_file(str(local_path), self._full(path))

    def upload_dir(self, local_dir: Path, prefix: str) -> list[str]:
        return upload_dir(self.upload_file, local_dir, prefix)

    def read_bytes(self, path: str) -> bytes:
        data: bytes = self.fs.cat_file(self._file(path))
        return data

    def read_range(self, path: str, start: int, length: int) -> bytes:
        check_range(start, length)
        full = self._file(path)
        size = int(self.fs.size(full))
        if start >= size or length == 0:
            return b""
        data: bytes = self.fs.cat_file(full, start=start, end=min(start + length, size))
        return data

    def size(self, path: str) -> int:
        return int(self.fs.size(self._file(path)))

    def exists(self, path: str) -> bool:
        return bool(self.fs.isfile(self._fresh(self._full(path))))

    def list(self, prefix: str = "", *, recursive: bool = False) -> list[Entry]:
        full = self._fresh(self._full(prefix, prefix=True))
        if not self.fs.isdir(full):
            return []
        entries: list[Entry] = []
        if recursive:
            found = self.fs.find(full, detail=True)
            for name, info in found.items():
                entries.append(Entry(self._rel(name), int(info.get("size") or 0), False))
        else:
            for info in self.fs.ls(full, detail=True):
                is_dir = info.get("type") == "directory"
                size = 0 if is_dir else int(info.get("size") or 0)
                entries.append(Entry(self._rel(info["name"]), size, is_dir))
        return sorted(entries, key=lambda e: e.path)

    def delete_prefix(self, prefix: str) -> int:
        if clean_path(prefix, prefix=True) == "":
            raise ValueError("refusing to delete the whole store; give a non-empty prefix")
        full = self._fresh(self._full(prefix, prefix=True))
        if self.fs.isfile(full):
            self.fs.rm_file(full)
            return 1
        if not self.fs.isdir(full):
            return 0
        count = len(self.fs.find(full))
        self.fs.rm(full, recursive=True)
        return count

    def _can_presign(self) -> bool:
        if self._presigner is not None:
            return True
        return self._gcs_signer is not None and self._gcs_signer.can_sign()

    def url_for(self, path: str) -> str:
        """`link_base/path` if the store has a link base; on S3 (and on GCS when the credentials
        can sign) a presigned GET link when `path` is an existing object; else the storage URL
        (`s3://bucket/prefix/path`, `gs://bucket/prefix/path`).

        A directory (such as the build directory the controller records as a job's URL) has no
        presigned link, so it stays the durable storage URL; presigned links expire, so callers
        should make them when a page is rendered rather than store them.
        """
        rel = clean_path(path, prefix=True)
        if self.link_base:
            return f"{self.link_base}/{rel}" if rel else self.link_base
        if rel and self._can_presign() and self.exists(rel):
            return self.presigned_url(rel)
        return f"{self.url}/{rel}" if rel else self.url

    def presigned_url(self, path: str, expires: int | None = None) -> str:
        """A presigned GET URL for the object `path`, valid `expires` seconds (default
        `presign_expires`): SigV4 on S3, a V4 signed URL on GCS (the credentials must hold a
        key). It is made offline: the object need not exist yet."""
        seconds = self.presign_expires if expires is None else expires
        if self._presigner is not None:
            return self._presigner.url(self._full(path), seconds)
        if self._gcs_signer is not None:
            return self._gcs_signer.url(self._full(path), seconds)
        raise ValueError(
            f"{self.url} cannot presign links: only s3:// stores can, and gs:// stores whose "
            "credentials can sign"
        )
