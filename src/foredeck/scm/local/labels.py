"""Labels of local pull requests: one JSON file shared by every foredeck process on the machine.

Labels are few and rarely written, so a file (`<local_root>/.foredeck-labels.json`, rewritten
atomically under `flock`) keeps them across restarts without a database table. Assignees and
review requests are lists of names per pull request too, kept the same way in files beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from foredeck.scm.local.jsonfile import SharedJson

LABELS_FILE = ".foredeck-labels.json"
ASSIGNEES_FILE = ".foredeck-assignees.json"
REVIEWERS_FILE = ".foredeck-reviewers.json"
LABEL_COLOR = "ededed"


class LabelStore:
    """Names per local pull request (labels, assignees, reviewers) in one JSON file, read and
    rewritten under `flock`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = SharedJson(path, "local labels")
        self._locked = self._file.locked

    def _read(self) -> dict[str, list[str]]:
        data = self._file.read()
        return {str(k): [str(x) for x in v] for k, v in data.items() if isinstance(v, list)}

    def _write(self, data: dict[str, list[str]]) -> None:
        self._file.write(dict(data))

    @staticmethod
    def _key(org: str, repo: str, number: int) -> str:
        return f"{org}/{repo}#{number}"

    def get(self, org: str, repo: str, number: int) -> list[str]:
        with self._locked():
            return list(self._read().get(self._key(org, repo, number), []))

    def of_repo(self, org: str, repo: str) -> dict[int, list[str]]:
        """Every numbered entry of `ORG/REPO`, read once (listing many pull requests)."""
        prefix = f"{org}/{repo}#"
        with self._locked():
            items = self._read().items()
        return {int(k[len(prefix) :]): v for k, v in items if k.startswith(prefix)}

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
