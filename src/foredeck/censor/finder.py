"""Finding where secrets are in a buffer: the stretches to mask (`Finder.stretches`).

Where the `hyperscan` wheel is installed (a core dependency on Linux x86-64 and aarch64 and on
macOS, where it has wheels), its literal matcher finds every start of a form in one scan
(`_Starts`), and the longest form at each start is picked by comparing bytes. Hyperscan's
scratch space is per thread, as a censor is shared by threads.

Elsewhere RE2's DFA reads about a byte per 2 ns whatever the number of secrets: slower than
copying a log. So when every form is long enough, the DFA reads only every `stride`-th byte
(`buf[::stride]`, a C loop) against the same forms sampled the same way: an occurrence of form
`f` at `p` puts `f[j::stride]` (`j = -p mod stride`) in the sampled bytes at `ceil(p / stride)`.
Each sampled hit is a candidate for `stride` start positions, each checked by an anchored match
on the full bytes; a real match is always a candidate, so nothing is missed. Sampled forms are
at least `SAMPLED` bytes long, which keeps false candidates rare (a stride of 1 when forms are
short).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
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
PADDED = 64
"""Hyperscan gets at least this many literals (`_Starts`)."""
LITERAL = 32
"""Hyperscan looks for the first bytes of each form, then each is checked whole: hyperscan
compiles 200 forms of a few kB in seconds, cut to this in milliseconds, and scans as fast."""


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


Stretches = tuple[int, Sequence[tuple[int, int]], int]
"""What a scan masks (`Finder.stretches`): where the stretch already masked at the start ends,
the new stretches `(start, end)` (overlapping matches merged), and how far the last one runs
past the bytes held back."""


NOTHING: Stretches = (0, (), 0)
"""A scan without a match (most chunks of a log)."""


def merged(starts: list[int], ends: dict[int, int], covered: int, hold: int) -> Stretches:
    """The stretches of the matches starting at `starts` (sorted) and ending at `ends`: a match
    starting inside a stretch extends it, one starting at or past `hold` begins none."""
    found: list[tuple[int, int]] = []
    first, end = -1, covered  # -1: the stretch already masked
    skip = 0
    for start in starts:
        if start < end:
            end = max(end, ends[start])
            continue
        if start >= hold:
            break
        if first < 0:
            skip = end
        else:
            found.append((first, end))
        first, end = start, ends[start]
    if first < 0:
        skip = end
    else:
        found.append((first, end))
    return skip, found, max(0, end - hold)


def padding(count: int) -> list[bytes]:
    """`count` literals of bytes over 0x7f in no UTF-8 order (never text, seldom binary)."""
    return [bytes(0x80 | (at * 37 + j * 11) % 0x80 for j in range(16)) for at in range(count)]


class _Starts:
    """Hyperscan's starts of the forms in a buffer, and the longest form's end at each.

    Only the forms that start with no shorter form are compiled (a base64 form and the same
    with its `=` padding both start with the characters the value alone decides): a third fewer
    literals, and one report per hit where each prefix gave one; the longest form at a start is
    then the longest of those that begin with the literal reported (`_longer`; a literal is at
    most `LITERAL` bytes). Start of match is the literal's end less its length, which spares
    hyperscan's start-of-match tracking.

    Fewer than `PADDED` literals are padded with literals of bytes a text log does not hold,
    whose reports are dropped: hyperscan compiles a small set for its Teddy matcher, which in
    the wheel's build reads a log at 1.2-4 GB/s for 8 to 48 literals, where its FDR matcher,
    chosen from 64, reads it at about 6 GB/s (`bench/censor_throughput.py --sweep`)."""

    def __init__(self, forms: set[bytes], longest: int) -> None:
        literals: list[bytes] = []
        longer: list[list[bytes]] = []
        for form in sorted(forms):  # a prefix sorts first, and all between start with it
            literal = form[:LITERAL]
            if not literals or not literal.startswith(literals[-1]):
                literals.append(literal)
                longer.append([])
            longer[-1].append(form)
        self._real = len(literals)
        self._longest = longest
        self._sizes = [len(literal) for literal in literals]
        self._longer = [sorted(group, key=len, reverse=True) for group in longer]
        compiled = literals + padding(PADDED - len(literals))
        escaped = [_escape(literal) for literal in compiled]  # no NUL in a C string
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_VECTORED)
        try:
            self._db.compile(
                expressions=escaped, ids=list(range(len(escaped))), elements=len(escaped)
            )
        except hyperscan.error:
            raise CensorError(f"{len(forms)} secret forms do not compile in hyperscan") from None
        self._local = threading.local()
        self._scratch = hyperscan.Scratch

    def stretches(self, held: bytes, data: bytes, covered: int, hold: int) -> Stretches:
        """`Finder.stretches`, from one scan of `held + data` (read as one, not joined)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._scratch(self._db)
        found: list[tuple[int, int]] = []
        report = found.append

        def hit(ident: int, _start: int, end: int, _flags: int, _context: object) -> None:
            report((ident, end))

        pieces = [held, data] if held else [data]  # vectored mode: the stubs know only one
        self._db.scan(pieces, match_event_handler=hit, scratch=scratch)  # type: ignore[type-var]
        if not found and not covered:
            return NOTHING
        offset, seam = len(held), b""
        ends: dict[int, int] = {}
        for ident, end in found:
            if ident >= self._real:
                continue  # padding
            start = end - self._sizes[ident]
            if start < offset and not seam:
                seam = held + data[: self._longest]
            buf, at = (seam, start) if start < offset else (data, start - offset)
            for form in self._longer[ident]:
                if buf.startswith(form, at):
                    if start + len(form) > ends.get(start, -1):
                        ends[start] = start + len(form)
                    break
        return merged(sorted(ends), ends, covered, hold)


class Finder:
    """Where the forms match: by hyperscan's starts, or by RE2 (sampled candidates or a plain
    DFA search)."""

    _search: Any
    _anchored: Any
    _sampled: Any
    """RE2's searches, where there is no hyperscan."""

    def __init__(self, forms: set[bytes]) -> None:
        self.longest = max(map(len, forms))
        self.pieces = hyperscan is not None
        """Whether `stretches` reads held bytes and a chunk as one (else they come joined)."""
        self.stride = 1
        self.stretches: Callable[[bytes, bytes, int, int], Stretches] = self._searched
        """What to mask in `held + buf` (`held` is empty unless `pieces`) up to `hold`, the
        first `covered` bytes continuing a stretch already masked; every match starting
        before `hold` must end inside the bytes given."""
        if self.pieces:
            self.stretches = _Starts(forms, self.longest).stretches
            return
        regex = compile_forms(forms)
        self._search = regex.search
        self._anchored = regex.match
        self.stride = stride_for(min(map(len, forms)))
        if self.stride > 1:
            s = self.stride
            self._sampled = compile_forms({f[j::s] for f in forms for j in range(s)}).search

    def _searched(self, held: bytes, buf: bytes, covered: int, hold: int) -> Stretches:
        """`stretches` by RE2 (`held` is empty)."""
        assert not held
        sampled = buf[:: self.stride] if self.stride > 1 else buf
        found: list[tuple[int, int]] = []
        cursor = 0
        if covered:
            cursor = self.reach(buf, 0, covered)
            if cursor > hold:
                return cursor, found, cursor - hold
        skip = cursor
        while (match := self.first(buf, sampled, cursor, hold)) is not None:
            start, end = match
            cursor = self.reach(buf, start + 1, end)
            found.append((start, cursor))
            if cursor > hold:
                return skip, found, cursor - hold
        return skip, found, 0

    def first(self, buf: bytes, sampled: bytes, cursor: int, limit: int) -> tuple[int, int] | None:
        """(start, end) of the leftmost-longest match starting in `[cursor, limit)` (a match
        starting there lies inside `buf`); `sampled` is `buf` read every `stride` bytes."""
        size, s = len(buf), self.stride
        if s == 1:
            match = self._search(buf, cursor, size)
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

    def reach(self, buf: bytes, start: int, end: int) -> int:
        """The end of a masked stretch now ending at `end`, once every match starting in
        `[start, end)` that reaches further is added (only those can): RE2 searches the few
        bytes again."""
        start = max(start, end - self.longest + 1)
        size = len(buf)
        while start < end:
            match = self._search(buf, start, min(size, end - 1 + self.longest))
            if match is None or match.start() >= end:
                return end
            end = max(end, match.end())
            start = max(match.start() + 1, end - self.longest + 1)
        return end
