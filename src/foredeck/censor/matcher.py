"""One compiled matcher for every form of every secret, used whole or as a stream.

`finder.py` finds where forms start (hyperscan's literal matcher, or RE2's DFA where there is
no hyperscan, on bytes as bytes: binary logs included) and the longest form at each start, so
that a secret wins over a shorter secret it starts with.
Matches that overlap (two secrets sharing bytes) are merged into one masked stretch: masking
only the first would leave the tail of the second in the log.

The mask is fixed (`MASK`), never as long as the secret: a masked log does not tell a secret's
length.

Streaming (`StreamCensor`): a chunk's last bytes that could start a secret completed by the next
chunk are held back, at most `longest - 1` of them and never past the chunk's last newline
(no form holds one), so a secret split across two writes (a 64 KiB pipe read) is still caught
while complete lines go out at once. Its output equals `Censor.censor` of the whole stream.
The held bytes are scanned with the next chunk as one stream (hyperscan's vectored mode), and
the output is one join of views of the chunk: a chunk is copied once, into the output.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from foredeck.censor.finder import CensorError, Finder
from foredeck.censor.forms import MIN_SECRET_LENGTH, as_bytes, secret_forms

__all__ = ["MASK", "NO_CENSOR", "Censor", "CensorError", "StreamCensor"]

MASK = b"CENSORED"
Part = bytes | memoryview
"""A piece of censored output: `MASK`, or a view of the bytes scanned (joined once)."""


class Censor:
    """Masks every configured secret and its base64 forms (`forms.py`) in bytes or text.

    Immutable and thread-safe: streams keep their own state (`stream()`)."""

    def __init__(
        self, secrets: Iterable[str | bytes] = (), *, min_length: int = MIN_SECRET_LENGTH
    ) -> None:
        self._secrets = tuple(secrets)
        self.min_length = min_length
        forms = secret_forms(self._secrets, min_length)
        self.count = len(forms)
        """How many byte strings are censored."""
        self.longest = max(map(len, forms), default=0)
        self._finder = Finder(forms) if forms else None

    def __bool__(self) -> bool:
        return self._finder is not None

    def censor(self, data: bytes) -> bytes:
        if self._finder is None:
            return data
        parts, _, _, _ = self._scan(b"", data, 0, len(data))
        return b"".join(parts)

    def text(self, value: str) -> str:
        if self._finder is None:
            return value
        return self.censor(as_bytes(value)).decode("utf-8", errors="surrogateescape")

    def data(self, value: Any) -> Any:
        """`value` (JSON-like: dicts, lists, strings) with every string censored, keys too."""
        if self._finder is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value

    def extended(self, secrets: Iterable[str | bytes]) -> Censor:
        """A censor of these secrets too (credentials fetched during a run)."""
        more = tuple(secrets)
        if not secret_forms(more, self.min_length):
            return self
        return Censor((*self._secrets, *more), min_length=self.min_length)

    def stream(self) -> StreamCensor:
        return StreamCensor(self)

    def _hold(self, buf: bytes) -> int:
        """Where the bytes a later chunk could complete into a secret start: at most
        `longest - 1` from the end, and not before the end of the last line (no form holds a
        newline)."""
        return max(len(buf) - self.longest + 1, buf.rfind(b"\n") + 1, 0)

    def _scan(
        self, held: bytes, data: bytes, covered: int, hold: int
    ) -> tuple[list[Part], int, int, int]:
        """Censor the first `hold` bytes of `held + data` (positions count from `held`'s
        start), whose first `covered` bytes continue a stretch already masked: the output
        (pieces of `held`, views of `data` and masks, for one join), where the bytes held back
        start, how many of those are still masked, and how many stretches were masked. Every
        match starting before `hold` must end inside `held + data`. Hyperscan reads the two as
        one (no copy of `data`); RE2 gets them joined."""
        finder = self._finder
        assert finder is not None
        if held and not finder.pieces:
            data, held = held + data, b""
        cursor, found, tail = finder.stretches(held, data, covered, hold)
        offset = len(held)
        if not found and not tail and cursor == 0 and hold == offset + len(data):
            return ([held, data] if held else [data]), hold, 0, 0
        view = memoryview(data)
        parts: list[Part] = []
        for start, end in (*found, (hold, hold)):
            if cursor >= offset:  # the bytes before `start`: of `data`, `held` or both
                parts.append(view[cursor - offset : start - offset])
            elif start <= offset:
                parts.append(held[cursor:start])
            else:
                parts += (held[cursor:], view[: start - offset])
            if start == hold:
                break
            parts.append(MASK)
            cursor = end
            if cursor > hold:
                break
        return parts, hold, tail, len(found)


class StreamCensor:
    """Censors a stream fed in chunks (see the module docstring); `flush` at its end."""

    def __init__(self, censor: Censor) -> None:
        self._censor = censor
        self._held = b""
        self._covered = 0
        self.masked = 0
        """How many stretches were masked so far."""

    def feed(self, data: bytes) -> bytes:
        """The censored bytes of `data` and those held back before it that can now be told.

        The held bytes (less than the longest form, no newline) are scanned with `data` as one
        stream, not joined to it (which would copy the chunk); a masked stretch they leave
        running continues into the next chunk as `covered`."""
        censor = self._censor
        if not censor:
            return data
        held, covered = self._held, self._covered
        if held and len(data) < censor.longest - 1 and b"\n" not in data:
            buf = held + data  # too short to settle the held bytes: hold on
            parts, hold, self._covered, masks = censor._scan(b"", buf, covered, censor._hold(buf))
            self._held = buf[hold:]
        else:
            parts, hold, self._covered, masks = censor._scan(
                held, data, covered, len(held) + censor._hold(data)
            )
            self._held = data[hold - len(held) :]
        self.masked += masks
        return b"".join(parts)

    def flush(self) -> bytes:
        """What was held back, censored; the stream starts afresh."""
        if not self._held:
            self._covered = 0
            return b""
        parts, _, _, masks = self._censor._scan(b"", self._held, self._covered, len(self._held))
        self._held, self._covered = b"", 0
        self.masked += masks
        return b"".join(parts)


NO_CENSOR = Censor()
"""Censors nothing (no secrets known)."""
