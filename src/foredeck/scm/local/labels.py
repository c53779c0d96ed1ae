"""Labels of local pull requests: one JSON file shared by every foredeck process on the machine.

Labels are few and rarely written, so a file (`<local_root>/.foredeck-labels.json`, rewritten
atomically under `flock`) keeps them across restarts without a database table. Assignees and
review requests are lists of names per pull request too, kept the same way in files beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

LABELS_FILE = ".foredeck-labels.json"
ASSIGNEES_FILE = ".foredeck-assignees.json"
REVIEWERS_FILE = ".foredeck-reviewers.json"
LABEL_COLOR = "ededed"


class LabelStore:
    """Names per local pull request (labels, assignees, reviewers) in one JSON file, read and
    rewritten under `flock`."""

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

    def _read(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("local labels: cannot read %s (%s); starting empty", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): [str(x) for x in v] for k, v in data.items() if isinstance(v, list)}

    def _write(self, data: dict[str, list[str]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    @staticmethod
    def _key(org: str, repo: str, number: int) -> str:
        return f"{org}/{repo}#{number}"

    def get(self, org: str, repo: str, number: int) -> list[str]:
        with self._locked():
            return list(self._read().get(self._key(org, repo, number), []))

    def update(
        self,
        org: str,
        repo: str,
        number: int,
        add: Sequence[str] = (),
        remove: str | Sequence[str] | None = None,
    ) -> list[str]:
        with self._locked():
            data = self._read()
            key = self._key(org, repo, number)
            names = data.get(key, [])
            lower = {n.lower() for n in names}
            for name in add:
                if name.lower() not in lower:
                    names.append(name)
                    lower.add(name.lower())
            gone = (
                {remove.lower()} if isinstance(remove, str) else {r.lower() for r in remove or ()}
            )
            names = [n for n in names if n.lower() not in gone]
            if names:
                data[key] = names
            else:
                data.pop(key, None)
            self._write(data)
            return list(names)
