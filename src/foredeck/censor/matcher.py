"""One compiled automaton for every form of every secret, used whole or as a stream.

RE2 (a core dependency) compiles the alternation of the literal forms into a DFA whose cost per
byte does not grow with the number of secrets (`finder.py`, which reads only every few bytes
when the forms are long), in Latin-1 mode so that bytes are bytes (binary logs included) and
leftmost-longest, so that a secret wins over a shorter secret it starts with.
Matches that overlap (two secrets sharing bytes) are merged into one masked stretch: masking
only the first would leave the tail of the second in the log.

The mask is fixed (`MASK`), never as long as the secret: a masked log does not tell a secret's
length.

Streaming (`StreamCensor`): a chunk's last bytes that could start a secret completed by the next
chunk are held back, at most `longest - 1` of them and never past the chunk's last newline
(no form holds one), so a secret split across two writes (a 64 KiB pipe read) is still caught
while complete lines go out at once. Its output equals `Censor.censor` of the whole stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from foredeck.censor.finder import CensorError, Finder
from foredeck.censor.forms import MIN_SECRET_LENGTH, as_bytes, secret_forms

__all__ = ["MASK", "NO_CENSOR", "Censor", "CensorError", "StreamCensor"]

MASK = b"CENSORED"


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
        self._search = self._finder.search if self._finder is not None else None

    def __bool__(self) -> bool:
        return self._search is not None

    def censor(self, data: bytes) -> bytes:
        if self._search is None:
            return data
        parts, _, _ = self._scan(data, 0, final=True)
        return b"".join(parts)

    def text(self, value: str) -> str:
        if self._search is None:
            return value
        return self.censor(as_bytes(value)).decode("utf-8", errors="surrogateescape")

    def data(self, value: Any) -> Any:
        """`value` (JSON-like: dicts, lists, strings) with every string censored, keys too."""
        if self._search is None:
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

    def _extend(self, buf: bytes, start: int, end: int) -> int:
        """The end of the masked stretch ending at `end`, once every match starting in
        `[start, end)` that reaches further is added (only those can)."""
        assert self._search is not None
        longest, size = self.longest, len(buf)
        while True:
            start = max(start, end - longest + 1)
            if start >= end:
                return end
            match = self._search(buf, start, min(size, end - 1 + longest))
            if match is None or match.start() >= end:
                return end
            end = max(end, match.end())
            start = match.start() + 1

    def _scan(self, buf: bytes, covered: int, *, final: bool) -> tuple[list[bytes], int, int]:
        """Censor `buf`, whose first `covered` bytes continue a stretch already masked: the
        output, where the bytes to hold back start, and how many of those are still masked."""
        assert self._finder is not None
        size = len(buf)
        hold = size if final else max(size - self.longest + 1, buf.rfind(b"\n") + 1, 0)
        sampled = self._finder.sample(buf)
        parts: list[bytes] = []
        cursor = 0
        if covered:
            end = self._extend(buf, 0, covered)
            if end > hold:
                return parts, hold, end - hold
            cursor = end
        while (match := self._finder.first(buf, sampled, cursor, hold)) is not None:
            start, end = match
            end = self._extend(buf, start + 1, end)
            parts += (buf[cursor:start], MASK)
            if end > hold:
                return parts, hold, end - hold
            cursor = end
        parts.append(buf[cursor:hold])
        return parts, hold, 0


class StreamCensor:
    """Censors a stream fed in chunks (see the module docstring); `flush` at its end."""

    def __init__(self, censor: Censor) -> None:
        self._censor = censor
        self._held = b""
        self._covered = 0
        self.masked = 0
        """How many stretches were masked so far."""

    def _join(self, parts: list[bytes]) -> bytes:
        self.masked += sum(1 for part in parts if part is MASK)
        return b"".join(parts)

    def feed(self, data: bytes) -> bytes:
        if not self._censor:
            return data
        buf = self._held + data if self._held else data
        parts, hold, self._covered = self._censor._scan(buf, self._covered, final=False)
        self._held = buf[hold:]
        return self._join(parts)

    def flush(self) -> bytes:
        """What was held back, censored; the stream starts afresh."""
        if not self._held:
            self._covered = 0
            return b""
        parts, _, _ = self._censor._scan(self._held, self._covered, final=True)
        self._held, self._covered = b"", 0
        return self._join(parts)


NO_CENSOR = Censor()
"""Censors nothing (no secrets known)."""
