"""The `file://` artifact store: a directory on disk.

Every write goes to a temporary file beside its target and is renamed over it, so a reader (the
dashboard polling `latest-build.txt`, a log viewer) sees either the old object or the new one, as
on GCS or S3. Paths are checked by `clean_path` and then resolved: a symlink planted inside the
root cannot lead a read or write outside it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from foredeck.storage.backend import (
    TMP_MARK,
    Entry,
    check_range,
    iter_local_files,
    join_rel,
    upload_dir,
)
from foredeck.storage.paths import clean_path

_COPY_CHUNK = 1024 * 1024


class LocalStore:
    """An `ArtifactStore` rooted at a local directory (created if missing)."""

    def __init__(self, root: Path, *, link_base: str | None = None) -> None:
        root = Path(root).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self.url = self.root.as_uri()
        self.link_base = link_base.rstrip("/") if link_base else None

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # --- paths ---

    def _resolve(self, path: str, *, prefix: bool = False) -> Path:
        rel = clean_path(path, prefix=prefix)
        target = self.root / rel if rel else self.root
        real = Path(os.path.realpath(target))
        if real != self.root and self.root not in real.parents:
            raise ValueError(f"store path {path!r} resolves outside the store")
        return target

    # --- writes ---

    def _writable(self, path: str) -> Path:
        """The file `path` names, its directory created; not a directory itself."""
        target = self._resolve(path)
        if target.is_dir():
            raise IsADirectoryError(f"store path {path!r} is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Re-check after creating parents: a concurrent symlink swap must not redirect us.
        self._resolve(path)
        return target

    @contextlib.contextmanager
    def _atomic(self, path: str, *, sync: bool = False) -> Iterator[BinaryIO]:
        target = self._writable(path)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}{TMP_MARK}")
        with _removed_on_error(tmp):
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as handle:
                yield handle
                if sync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, target)

    def write_bytes(self, path: str, data: bytes) -> None:
        # Small marker files (latest-build.txt) are synced too, so a crash cannot leave them empty.
        with self._atomic(path, sync=True) as handle:
            handle.write(data)

    def write_text(self, path: str, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def open_write(self, path: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return self._atomic(path)

    def upload_file(self, local_path: Path, path: str) -> None:
        with open(local_path, "rb") as source, self._atomic(path) as handle:
            shutil.copyfileobj(source, handle, _COPY_CHUNK)

    def link_file(self, local_path: Path, path: str) -> None:
        """`upload_file` by a hard link: the store and `local_path` share the bytes (a finished
        run's output is published without a second copy on the disk). Falls back to a copy
        for a file on another file system, or one with other names (a file a step linked from
        elsewhere, whose other names could change it). Made readable (0644) like a copy."""
        target = self._writable(path)
        tmp = target.parent / f".{target.name}{TMP_MARK}{secrets.token_hex(4)}"
        try:
            st = os.lstat(local_path)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                raise OSError(f"{local_path}: not a file of its own")
            os.link(local_path, tmp)
        except OSError:
            self.upload_file(local_path, path)
            return
        with _removed_on_error(tmp):
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)

    def upload_dir(self, local_dir: Path, prefix: str) -> list[str]:
        return upload_dir(self.upload_file, local_dir, prefix)

    # --- reads ---

    def _file(self, path: str) -> Path:
        target = self._resolve(path)
        if target.is_dir():
            raise IsADirectoryError(f"store path {path!r} is a directory")
        return target

    def read_bytes(self, path: str) -> bytes:
        return self._file(path).read_bytes()

    def read_range(self, path: str, start: int, length: int) -> bytes:
        check_range(start, length)
        with open(self._file(path), "rb") as handle:
            handle.seek(start)
            return handle.read(length)

    def size(self, path: str) -> int:
        return self._file(path).stat().st_size

    def exists(self, path: str) -> bool:
        return self._resolve(path).is_file()

    def list(self, prefix: str = "", *, recursive: bool = False) -> list[Entry]:
        base = self._resolve(prefix, prefix=True)
        rel_base = clean_path(prefix, prefix=True)
        if not base.is_dir():
            return []
        entries: list[Entry] = []
        if recursive:
            for rel, local in iter_local_files(base, warn=False):
                entries.append(Entry(join_rel(rel_base, rel), local.stat().st_size, False))
        else:
            with os.scandir(base) as scan:
                for item in scan:
                    if TMP_MARK in item.name or item.is_symlink():
                        continue
                    is_dir = item.is_dir()
                    size = 0 if is_dir else item.stat().st_size
                    entries.append(Entry(join_rel(rel_base, item.name), size, is_dir))
        return sorted(entries, key=lambda e: e.path)

    # --- deletes and links ---

    def delete_prefix(self, prefix: str) -> int:
        if clean_path(prefix, prefix=True) == "":
            raise ValueError("refusing to delete the whole store; give a non-empty prefix")
        target = self._resolve(prefix, prefix=True)
        if target.is_file():
            target.unlink()
            return 1
        if not target.is_dir():
            return 0
        count = sum(1 for _ in target.rglob("*") if not _.is_dir())
        shutil.rmtree(target)
        return count

    def url_for(self, path: str) -> str:
        rel = clean_path(path, prefix=True)
        if self.link_base:
            return f"{self.link_base}/{rel}" if rel else self.link_base
        return (self.root / rel).as_uri() if rel else self.url


@contextlib.contextmanager
def _removed_on_error(tmp: str | Path) -> Iterator[None]:
    """Remove the temporary file `tmp` when the block fails before renaming it into place."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
