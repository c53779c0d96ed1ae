"""What a local pull request opened through the API has beyond its `pr/N` branch: the branch it
follows (its head, as on GitHub), and a title and body set by the API rather than by its first
commit. One JSON file, `<local_root>/.foredeck-pulls.json`, rewritten atomically under `flock`
(as the labels are: few entries, rarely written, shared by every foredeck process).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from foredeck.scm.local.jsonfile import SharedJson

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
        self._file = SharedJson(path, "local pulls")
        self._locked = self._file.locked

    def _read(self) -> dict[str, PullMeta]:
        found = {}
        for key, value in self._file.read().items():
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
            self._file.write({k: asdict(v) for k, v in data.items()})
