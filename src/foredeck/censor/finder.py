"""Finding the leftmost secret in a buffer, reading most bytes once at a quarter of the cost.

RE2's DFA reads about a byte per 2 ns whatever the number of secrets: slower than copying a log.
So when every form is long enough, the DFA reads only every `stride`-th byte (`buf[::stride]`,
a C loop) against the same forms sampled the same way: an occurrence of form `f` at `p` puts
`f[j::stride]` (`j = -p mod stride`) in the sampled bytes at `ceil(p / stride)`. Each sampled
hit is a candidate for `stride` start positions, each checked by an anchored match on the full
bytes; a real match is always a candidate, so nothing is missed. Sampled forms are at least
`SAMPLED` bytes long, which keeps false candidates rare (a stride of 1 when forms are short).

Where the `hyperscan` wheel is installed (Linux x86-64, a core dependency there), its
literal matcher finds the leftmost start of any form instead, at several GB/s (faster than
copying the log in Python), and RE2 only reads the few bytes at that start to pick the longest
form there. Hyperscan's scratch space is per thread, as a censor is shared by threads.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Any

import re2

try:
    import hyperscan
except ImportError:  # another platform: RE2 alone
    hyperscan = None  # type: ignore[assignment]

MAX_MEM = 256 * 1024 * 1024
"""RE2's budget for a compiled program and its DFA cache (allocated as needed)."""
SAMPLED = 5
"""The shortest sampled form: fewer bytes would make false candidates common."""
MAX_STRIDE = 4


class CensorError(Exception):
    """The secrets could not be compiled; the message never holds a secret."""


def _escape(form: bytes) -> bytes:
    return b"".join(
        bytes((b,)) if 48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122 else b"\\x%02x" % b
        for b in form
    )


def compile_forms(forms: set[bytes]) -> Any:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.longest_match = True
    options.max_mem = MAX_MEM
    options.log_errors = False
    pattern = b"|".join(_escape(form) for form in sorted(forms, key=lambda f: (-len(f), f)))
    try:
        return re2.compile(pattern, options)
    except re2.error:
        raise CensorError(f"{len(forms)} secret forms do not compile within RE2's memory") from None


def stride_for(shortest: int) -> int:
    """The largest stride whose sampled forms all keep `SAMPLED` bytes."""
    fits = [s for s in range(2, MAX_STRIDE + 1) if (shortest - s + 1) // s >= SAMPLED]
    return max(fits, default=1)


@dataclass(frozen=True)
class Starts:
    """Where forms start in a buffer (sorted), and the end of the longest form at each."""

    starts: list[int]
    ends: dict[int, int]


NO_STARTS = Starts([], {})
"""A scan without a match (most chunks of a log): nothing to sort or keep."""


class _Starts:
    """Hyperscan's leftmost start of any form in a buffer."""

    def __init__(self, forms: set[bytes]) -> None:
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        escaped = [_escape(form) for form in sorted(forms)]  # no NUL in a C string
        try:
            self._db.compile(
                expressions=escaped,
                ids=list(range(len(escaped))),
                elements=len(escaped),
                flags=hyperscan.HS_FLAG_SOM_LEFTMOST,
            )
        except hyperscan.error:
            raise CensorError(f"{len(forms)} secret forms do not compile in hyperscan") from None
        self._local = threading.local()
        self._scratch = hyperscan.Scratch

    def all(self, data: bytes) -> Starts:
        """Every start of a form in `data` with its longest match's end (one scan)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._scratch(self._db)
        ends: dict[int, int] = {}

        def hit(_id: int, start: int, end: int, _flags: int, _context: object) -> None:
            if end > ends.get(start, -1):
                ends[start] = end

        self._db.scan(data, match_event_handler=hit, scratch=scratch)
        return Starts(sorted(ends), ends) if ends else NO_STARTS


class Finder:
    """The leftmost match of any form: hyperscan's, or by sampled candidates or a plain DFA
    search."""

    def __init__(self, forms: set[bytes]) -> None:
        regex = compile_forms(forms)
        self.search = regex.search
        self._anchored = regex.match
        self.longest = max(map(len, forms))
        self._starts = _Starts(forms) if hyperscan is not None else None
        self.stride = 1 if self._starts else stride_for(min(map(len, forms)))
        if self.stride > 1:
            s = self.stride
            self._sampled = compile_forms({f[j::s] for f in forms for j in range(s)}).search

    def sample(self, buf: bytes) -> bytes | Starts:
        """What `first` searches for `buf`: every start of a form (hyperscan), or the sampled
        bytes."""
        if self._starts is not None:
            return self._starts.all(buf)
        return buf[:: self.stride] if self.stride > 1 else buf

    def first(
        self, buf: bytes, sampled: bytes | Starts, cursor: int, limit: int
    ) -> tuple[int, int] | None:
        """(start, end) of the leftmost-longest match starting in `[cursor, limit)` (a match
        starting there lies inside `buf`); `sampled` is `sample(buf)`."""
        size, s = len(buf), self.stride
        if isinstance(sampled, Starts):
            starts = sampled.starts
            at = bisect.bisect_left(starts, cursor)
            if at == len(starts) or starts[at] >= limit:
                return None
            return starts[at], sampled.ends[starts[at]]
        if s == 1:
            match = self.search(buf, cursor, size)
            if match is None or match.start() >= limit:
                return None
            return int(match.start()), int(match.end())
        index = -(-cursor // s)
        while (hit := self._sampled(sampled, index)) is not None:
            top = hit.start() * s
            if top - s + 1 >= limit:
                return None
            for start in range(max(cursor, top - s + 1), min(top, limit - 1) + 1):
                match = self._anchored(buf, start, min(size, start + self.longest))
                if match is not None:
                    return start, int(match.end())
            index = hit.start() + 1
        return None

    def reach(self, buf: bytes, sampled: bytes | Starts, start: int, end: int) -> int:
        """The end of a masked stretch now ending at `end`, once every match starting in
        `[start, end)` that reaches further is added (only those can). With hyperscan's
        starts this is a walk of a sorted list; RE2 searches the few bytes again."""
        start = max(start, end - self.longest + 1)
        if isinstance(sampled, Starts):
            starts, ends = sampled.starts, sampled.ends
            at = bisect.bisect_left(starts, start)
            while at < len(starts) and starts[at] < end:
                end = max(end, ends[starts[at]])
                at += 1
            return end
        size = len(buf)
        while start < end:
            match = self.search(buf, start, min(size, end - 1 + self.longest))
            if match is None or match.start() >= end:
                return end
            end = max(end, match.end())
            start = max(match.start() + 1, end - self.longest + 1)
        return end
