"""A task's log as byte ranges of the build log: `tasks/<task>/log.index`.

Every line a step prints is stored once, in `build-log.txt` (`<time> [task/step] line`), which
Prow's tools read. A task's own log is the list of the stretches of the build log that hold its
lines: a sequence of 16-byte entries, each two little-endian unsigned 64-bit integers, the
stretch's offset in `build-log.txt` and the task log's size at the stretch's end. Consecutive
lines of one task make one stretch; an entry is added when another task wrote in between.

`IndexedLog` reads it like a file (`size()`, `read_range()`), from a workspace or a store, by
binary search over the entries, so a page of a large task log costs a few small reads.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Protocol

from foredeck.storage.prow import BUILD_LOG

TASK_LOG_INDEX = "log.index"
"""`tasks/<task>/log.index` in a run's output: the task's log (see above)."""
TASK_LOG_TEXT = "log.txt"
"""`tasks/<task>/log.txt`: a task log as text, where the build log is not whole (a live
snapshot holds only its tail) or in runs from before the index."""
ENTRY = struct.Struct("<QQ")
_BLOCK_ENTRIES = 4096


class RangeSource(Protocol):
    def size(self) -> int: ...

    def read_range(self, start: int, length: int) -> bytes: ...


class IndexedLog:
    """A task's log, read through its index from the build log (both `RangeSource`s).

    The entry count is taken when it is made: a growing log is read as it was then.
    """

    def __init__(self, index: RangeSource, build_log: RangeSource) -> None:
        self._index = index
        self._log = build_log
        self._count = index.size() // ENTRY.size
        self._blocks: dict[int, bytes] = {}
        self._size = self._entry(self._count - 1)[1] if self._count else 0

    def _entry(self, i: int) -> tuple[int, int]:
        """(offset in the build log, the task log's size at the stretch's end) of entry `i`."""
        block, slot = divmod(i, _BLOCK_ENTRIES)
        data = self._blocks.get(block)
        if data is None:
            start = block * _BLOCK_ENTRIES * ENTRY.size
            length = min(_BLOCK_ENTRIES, self._count - block * _BLOCK_ENTRIES) * ENTRY.size
            data = self._blocks[block] = self._index.read_range(start, length)
        if len(data) < (slot + 1) * ENTRY.size:
            raise ValueError(f"task log index shorter than its {self._count} entries")
        found: tuple[int, int] = ENTRY.unpack_from(data, slot * ENTRY.size)
        return found

    def size(self) -> int:
        return self._size

    def read_range(self, start: int, length: int) -> bytes:
        end = min(start + length, self._size)
        if start >= end:
            return b""
        low, high = 0, self._count
        while low < high:  # the first stretch that ends after `start`
            middle = (low + high) // 2
            if self._entry(middle)[1] <= start:
                low = middle + 1
            else:
                high = middle
        parts: list[bytes] = []
        position = start
        begin = self._entry(low - 1)[1] if low else 0
        for i in range(low, self._count):
            if position >= end:
                break
            offset, stretch_end = self._entry(i)
            take = min(stretch_end, end) - position
            parts.append(self._log.read_range(offset + position - begin, take))
            position += take
            begin = stretch_end
        return b"".join(parts)


class LocalRange:
    """A local file as a `RangeSource`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def size(self) -> int:
        return self.path.stat().st_size

    def read_range(self, start: int, length: int) -> bytes:
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(length)


def read_task_log(out_dir: str | Path, index: str) -> bytes:
    """The whole log of a task of the run in `out_dir` (`index`: its `log` in
    `pipeline-run.json`), e.g. for a script reading `foredeck run`'s output."""
    out = Path(out_dir)
    log = IndexedLog(LocalRange(out / index), LocalRange(out / BUILD_LOG))
    return log.read_range(0, log.size())
