"""A build's files: where they are (workspace or store), listing them, and serving them safely.

`BuildFiles` is one build directory seen through the `ArtifactStore` interface: the published
one in the store, or, while a job runs, its workspace's `out/` directory (opened as a local
store, so the same path checks apply) when that directory is on this machine, else the live
snapshots the controller uploads to the build directory (`foredeck.controller.live`).
Every relative path passes `clean_path` before it is joined to the build directory: `..`,
absolute paths, backslashes and empty segments are refused, so a request can never name
anything outside the job's folder.

Files are served as data, never as pages of our origin: text (HTML included) as `text/plain`,
a few image types as themselves, anything else as an `attachment`; always with `nosniff` and a
sandboxing CSP.
"""

from __future__ import annotations

import logging
import mimetypes
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from foredeck.db.models import Job
from foredeck.jobs import store_log_path
from foredeck.storage.paths import clean_path
from foredeck.storage.prow import BUILD_LOG
from foredeck.storage.store import ArtifactStore, Entry
from foredeck.storage.tasklog import TASK_LOG_INDEX, TASK_LOG_TEXT, IndexedLog

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
SNIFF_BYTES = 8192
MAX_LIST = 5000
"""Entries listed per directory (and files searched for JUnit)."""
SCRATCH = ".work"

UNFINISHED = ("triggered", "pending")
LIVE_CUT_MARK = "[foredeck] live snapshot:"
"""`foredeck.controller.live.CUT_MARK` (not imported: the dashboard does not load the controller):
the first line of a log snapshot that holds only the log's tail."""
NOTICE_BYTES = 512

Source = Literal["workspace", "snapshot", "store"]

TEXT_SUFFIXES = frozenset(
    [
        ".txt",
        ".log",
        ".json",
        ".xml",
        ".yaml",
        ".yml",
        ".html",
        ".htm",
        ".md",
        ".csv",
        ".tsv",
        ".sh",
        ".py",
        ".go",
        ".js",
        ".ts",
        ".css",
        ".ini",
        ".toml",
        ".cfg",
        ".conf",
        ".out",
        ".err",
        ".diff",
        ".patch",
        ".svg",
        ".properties",
        ".env",
        ".sql",
        ".rst",
    ]
)
"""Served as `text/plain`, whatever they contain (`.html` and `.svg` could run scripts)."""
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'none'; sandbox"


class BadPath(ValueError):
    """A path that is not a clean relative path inside the build directory."""


@dataclass
class BuildFiles:
    """One build directory in a store; `prefix` is the build directory's store path."""

    store: ArtifactStore
    prefix: str
    live: bool = False
    """True while the job runs (its files still change)."""
    source: Source = "store"
    """`workspace`: the controller's disk; `snapshot`: a running job's live snapshots in the
    store; `store`: the published build directory."""

    def path(self, rel: str) -> str:
        try:
            rel = clean_path(rel, prefix=True)
        except ValueError as exc:
            raise BadPath(str(exc)) from None
        if rel.split("/", 1)[0] == SCRATCH:
            raise BadPath("the executor's scratch directory is not served")
        return f"{self.prefix}/{rel}" if rel and self.prefix else (rel or self.prefix)

    def exists(self, rel: str) -> bool:
        try:
            return self.store.exists(self.path(rel))
        except (OSError, ValueError):
            return False

    def size(self, rel: str) -> int:
        return self.store.size(self.path(rel))

    def read_range(self, rel: str, start: int, length: int) -> bytes:
        return self.store.read_range(self.path(rel), start, length)

    def read_bytes(self, rel: str) -> bytes:
        return self.store.read_bytes(self.path(rel))

    def list(self, rel: str = "", *, recursive: bool = False) -> list[Entry]:
        """Entries below `rel`, with paths relative to the build directory (scratch hidden)."""
        base = self.path(rel)
        entries = []
        for entry in self.store.list(base, recursive=recursive)[:MAX_LIST]:
            path = entry.path
            if self.prefix:
                path = path[len(self.prefix) :].lstrip("/")
            if path.split("/", 1)[0] == SCRATCH:
                continue
            entries.append(Entry(path, entry.size, entry.is_dir))
        return entries


@dataclass(frozen=True)
class RangeReader:
    """One file of a build as a `RangeSource` (what the log renderer pages through)."""

    files: BuildFiles
    rel: str

    def size(self) -> int:
        return self.files.size(self.rel)

    def read_range(self, start: int, length: int) -> bytes:
        return self.files.read_range(self.rel, start, length)


def task_log(files: BuildFiles, rel: str) -> RangeReader | IndexedLog | None:
    """A task's log, from the `log` of its `pipeline-run.json` entry: the build log read through
    the task's index (`storage/tasklog.py`); in a live snapshot, whose build log may be only a
    tail, the task log's text beside the index; a plain text file in older runs. None if absent
    (`BadPath` for a path outside the build)."""
    if rel.endswith(f"/{TASK_LOG_INDEX}"):
        text = rel[: -len(TASK_LOG_INDEX)] + TASK_LOG_TEXT
        if files.source == "snapshot" and files.exists(text):
            return RangeReader(files, text)
        if files.exists(rel) and files.exists(BUILD_LOG):
            return IndexedLog(RangeReader(files, rel), RangeReader(files, BUILD_LOG))
        return None
    return RangeReader(files, rel) if files.exists(rel) else None


def build_files(job: Job, store: ArtifactStore | None) -> BuildFiles | None:
    """A running job's workspace output when it is on this machine, else its build directory
    in the store (a running job's live snapshots, or the published build); a finished job whose
    build never reached the store (publishing failed) falls back to its workspace."""
    workspace = _workspace_out(job)
    running = job.state in UNFINISHED
    if running and workspace is not None:
        return workspace
    log_path = store_log_path(job)
    if store is not None and log_path is not None:
        published = BuildFiles(
            store,
            log_path.rsplit("/", 1)[0],
            live=running,
            source="snapshot" if running else "store",
        )
        try:
            if workspace is None or store.list(published.prefix):
                return published
        except (OSError, ValueError) as exc:
            log.warning("job %s: cannot list %s: %s", job.id, published.prefix, exc)
    return workspace


def _workspace_out(job: Job) -> BuildFiles | None:
    if not job.workspace:
        return None
    out = Path(job.workspace) / "out"
    if not out.is_dir() or out.is_symlink():
        return None
    from foredeck.storage.local import LocalStore

    return BuildFiles(LocalStore(out), "", live=job.state in UNFINISHED, source="workspace")


def snapshot_cut(files: BuildFiles) -> str | None:
    """The notice of a live snapshot whose build log holds only the log's tail, else None."""
    if files.source != "snapshot":
        return None
    try:
        head = files.read_range(BUILD_LOG, 0, NOTICE_BYTES)
    except (OSError, ValueError):
        return None
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    at = first.find(LIVE_CUT_MARK)
    return first[at + len("[foredeck] ") :] if at >= 0 else None


def content_headers(name: str, head: bytes) -> tuple[str, dict[str, str]]:
    """(media type, extra headers) for serving a file named `name` starting with `head`."""
    suffix = posixpath.splitext(name)[1].lower()
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": FILE_CSP}
    if suffix in IMAGE_TYPES:
        return IMAGE_TYPES[suffix], headers
    if suffix in TEXT_SUFFIXES or looks_like_text(head):
        return "text/plain; charset=utf-8", headers
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if guessed.startswith(("text/", "image/", "application/xhtml", "application/javascript")):
        guessed = "application/octet-stream"
    headers["Content-Disposition"] = (
        f"attachment; filename*=UTF-8''{quote(posixpath.basename(name))}"
    )
    return guessed, headers


def looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True


def stream(source: RangeReader | IndexedLog, start: int, end: int) -> Iterator[bytes]:
    """`[start, end)` of a file in chunks: memory stays bounded whatever the file's size."""
    pos = start
    while pos < end:
        data = source.read_range(pos, min(CHUNK, end - pos))
        if not data:
            return
        pos += len(data)
        yield data
