"""What a local pull request opened through the API has beyond its `pr/N` branch: the branch it
follows (its head, as on GitHub), and a title and body set by the API rather than by its first
commit. One JSON file, `<local_root>/.foredeck-pulls.json`, rewritten atomically under `flock`
(as the labels are: few entries, rarely written, shared by every foredeck process).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PULLS_FILE = ".foredeck-pulls.json"


@dataclass(frozen=True, slots=True)
class PullMeta:
    head: str
    """The branch the pull request's `pr/N` follows: a push to it moves `pr/N` too."""
    title: str
    body: str


class PullMetaStore:
    """`PullMeta` by `ORG/REPO#N` in one JSON file, read and rewritten under `flock`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_suffix(".lock"), "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> dict[str, PullMeta]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("local pulls: cannot read %s (%s); starting empty", self.path, exc)
            return {}
        found = {}
        for key, value in data.items() if isinstance(data, dict) else ():
            if isinstance(value, dict):
                fields = [str(value.get(name, "")) for name in ("head", "title", "body")]
                found[str(key)] = PullMeta(*fields)
        return found

    @staticmethod
    def key(org: str, repo: str, number: int) -> str:
        return f"{org}/{repo}#{number}"

    def get(self, org: str, repo: str, number: int) -> PullMeta | None:
        with self._locked():
            return self._read().get(self.key(org, repo, number))

    def of_repo(self, org: str, repo: str) -> dict[int, PullMeta]:
        prefix = f"{org}/{repo}#"
        with self._locked():
            items = self._read().items()
        return {int(k[len(prefix) :]): v for k, v in items if k.startswith(prefix)}

    def put(self, org: str, repo: str, number: int, meta: PullMeta) -> None:
        with self._locked():
            data = self._read()
            data[self.key(org, repo, number)] = meta
            tmp = self.path.with_suffix(".tmp")
            payload = {k: asdict(v) for k, v in data.items()}
            tmp.write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
