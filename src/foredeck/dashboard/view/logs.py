"""The build-log lens: one page of a log, highlighted, coloured and folded, read by byte range.

A log can be 1 GB, so a page is a bounded byte range (the tail by default) and everything here
works on that range only: the server never holds more than `MAX_PAGE_BYTES` of a log. Lines are
cut at newlines: a page that does not start at offset 0 drops its partial first line (the
"earlier" page shows it). Absolute line numbers are only known when a page starts at 0; other
pages number their lines by byte offset (`#B<offset>`), which stays a stable link.

Log text is written by whoever opened the pull request: each line is HTML-escaped first, then
ANSI SGR codes (which contain no markup characters) become `<span class="...">`.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from markupsafe import Markup

log = logging.getLogger(__name__)

PAGE_BYTES = 256 * 1024
"""The default page: the last 256 KB of the log."""
MAX_PAGE_BYTES = 1024 * 1024
"""The largest page the run page renders (a longer `start..end` is cut)."""
MAX_LINE_CHARS = 10_000
"""Longer lines are cut when rendered (the raw range endpoint has them whole)."""
CONTEXT_LINES = 5
"""Lines kept visible before and after each error line when folding."""
FOLD_MIN_LINES = 20
"""A stretch of error-free lines at least this long is folded behind "show all"."""
TAIL_LINES = 30
"""The last lines of a page are never folded: the end of a log is where runs usually fail."""
MAX_PATTERN_CHARS = 1000
SCAN_CHUNK = 1024 * 1024
SCAN_LIMIT = 32 * 1024 * 1024
"""The most one "find the first error" request reads; the page then offers to search on."""
ERROR_CONTEXT_BYTES = 2048
"""How much of the log before a found error line its page shows."""

PROW_ERROR_PATTERNS: tuple[str, ...] = (
    r"timed out",
    r"ERROR:",
    r"(FAIL|Failure \[)\b",
    r"panic\b",
    r"^E\d{4}",
)
"""Prow's default `highlight_regexes` of the buildlog lens (klog's `E0412` and go test's
`--- FAIL` among them)."""
DEFAULT_ERROR_PATTERNS: tuple[str, ...] = (
    *PROW_ERROR_PATTERNS,
    r"^FAILED \S+::",  # pytest's summary: `FAILED tests/test_x.py::test_y - AssertionError`
    r"^E {3}",  # pytest's assertion details
    r"^Traceback \(most recent call last\):",
    r"^make(\[\d+\])?: \*\*\*",
)
"""Prow's patterns, and pytest's, Python's and make's failures."""

LINE_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z \[[^\]\n]{1,300}\] ")
"""`<time> [task/step] ` that starts each line the executor stores (`execute/logs.py`): patterns
are matched on what follows, so klog's `^E` pattern finds its error lines."""
_LINE_PREFIXES = re.compile(LINE_PREFIX.pattern.encode(), re.M)


class RangeSource(Protocol):
    """What a page is read from (`foredeck.api.logs.LogSource` satisfies it)."""

    def size(self) -> int: ...

    def read_range(self, start: int, length: int) -> bytes: ...


# --- error patterns


class Matcher(Protocol):
    def search(self, text: str, pos: int = ...) -> Any: ...


def _section(plugin_config: dict[str, Any]) -> dict[str, Any]:
    section = plugin_config.get("dashboard", {}) if isinstance(plugin_config, dict) else {}
    return section if isinstance(section, dict) else {}


def _pattern_list(patterns: Any) -> list[str] | None:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list):
        return None
    return [p for p in patterns if isinstance(p, str) and p]


def error_patterns(plugin_config: dict[str, Any]) -> list[str]:
    """`plugin_config.dashboard.error_patterns` (a list of regexes), else the defaults."""
    found = _pattern_list(_section(plugin_config).get("error_patterns"))
    return list(DEFAULT_ERROR_PATTERNS) if found is None else found


def job_error_patterns(plugin_config: dict[str, Any]) -> dict[str, list[str]]:
    """`plugin_config.dashboard.job_error_patterns`: per job name, patterns added to the
    others (a job whose tool prints its own failure lines)."""
    jobs = _section(plugin_config).get("job_error_patterns")
    if not isinstance(jobs, dict):
        return {}
    found = {str(name): _pattern_list(patterns) for name, patterns in jobs.items()}
    return {name: patterns for name, patterns in found.items() if patterns}


def _compiler() -> Callable[[str], Matcher]:
    """RE2 when installed: the patterns come from configuration, and RE2 runs in linear time
    whatever they are (no catastrophic backtracking on a hostile log line)."""
    try:
        import re2
    except ImportError:  # pragma: no cover - google-re2 is installed in CI
        return re.compile

    def compile_re2(pattern: str) -> Matcher:
        matcher: Matcher = re2.compile(pattern)
        return matcher

    return compile_re2


def compile_patterns(patterns: Sequence[str], *, multiline: bool = False) -> list[Matcher]:
    """The usable patterns as one alternation (one search per line, whatever their number);
    a broken or oversized pattern is logged and left out. `multiline` compiles it for searching
    many lines at once (`^`/`$` at each line), as `find_error` does."""
    compile_one = _compiler()
    usable: list[str] = []
    for pattern in patterns:
        if len(pattern) > MAX_PATTERN_CHARS:
            log.warning("dashboard error pattern longer than %d chars ignored", MAX_PATTERN_CHARS)
            continue
        try:
            compile_one(pattern)
        except Exception as exc:  # re.error / re2.error
            log.warning("dashboard error pattern %r ignored: %s", pattern, exc)
            continue
        usable.append(pattern)
    if not usable:
        return []
    joined = "|".join(f"(?:{pattern})" for pattern in usable)
    return [compile_one(f"(?m){joined}" if multiline else joined)]


@dataclass(frozen=True)
class LogMatchers:
    """The error patterns, compiled once per app: per line, and over many lines (`find_error`)."""

    lines: list[Matcher]
    chunks: list[Matcher]
    jobs: dict[str, LogMatchers] = field(default_factory=dict)
    """Per job name, with its own patterns added (`job_error_patterns`)."""

    @classmethod
    def compile(cls, patterns: Sequence[str]) -> LogMatchers:
        return cls(compile_patterns(patterns), compile_patterns(patterns, multiline=True))

    @classmethod
    def of(cls, plugin_config: dict[str, Any]) -> LogMatchers:
        patterns = error_patterns(plugin_config)
        jobs = {
            name: cls.compile([*patterns, *extra])
            for name, extra in job_error_patterns(plugin_config).items()
        }
        return cls(compile_patterns(patterns), compile_patterns(patterns, multiline=True), jobs)

    def for_job(self, name: str) -> LogMatchers:
        return self.jobs.get(name, self)


def is_error(matchers: Sequence[Matcher], text: str) -> bool:
    """Whether a line (colours removed) matches, its stored `<time> [task/step] ` prefix aside."""
    if text[:1].isdigit():
        text = LINE_PREFIX.sub("", text, count=1)
    return any(m.search(text) is not None for m in matchers)


# --- ANSI colours

_CSI = re.compile(r"\x1b\[([0-9;?]*)([@-~])")
_OTHER_ESCAPES = re.compile(r"\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_FG = {30, 31, 32, 33, 34, 35, 36, 37, 90, 91, 92, 93, 94, 95, 96, 97}
_BG = {40, 41, 42, 43, 44, 45, 46, 47, 100, 101, 102, 103, 104, 105, 106, 107}


def strip_ansi(text: str) -> str:
    if "\x1b" not in text:
        return text
    return _OTHER_ESCAPES.sub("", _CSI.sub("", text))


@dataclass
class AnsiState:
    """The SGR attributes in effect; they carry over from one line to the next, as on a tty."""

    bold: bool = False
    italic: bool = False
    underline: bool = False
    fg: int | None = None
    bg: int | None = None

    def classes(self) -> list[str]:
        names = []
        if self.bold:
            names.append("ansi-bold")
        if self.italic:
            names.append("ansi-italic")
        if self.underline:
            names.append("ansi-underline")
        if self.fg is not None:
            names.append(f"ansi-fg-{self.fg}")
        if self.bg is not None:
            names.append(f"ansi-bg-{self.bg}")
        return names

    def apply(self, params: str) -> None:
        codes = [int(c) if c.isdigit() else 0 for c in params.split(";")] if params else [0]
        index = 0
        while index < len(codes):
            code = codes[index]
            if code == 0:
                self.bold = self.italic = self.underline = False
                self.fg = self.bg = None
            elif code == 1:
                self.bold = True
            elif code == 3:
                self.italic = True
            elif code == 4:
                self.underline = True
            elif code == 22:
                self.bold = False
            elif code == 23:
                self.italic = False
            elif code == 24:
                self.underline = False
            elif code in _FG:
                self.fg = code
            elif code == 39:
                self.fg = None
            elif code in _BG:
                self.bg = code
            elif code == 49:
                self.bg = None
            elif code in (38, 48):  # 256-colour / truecolour: skip the arguments, keep default
                index += 2 if index + 1 < len(codes) and codes[index + 1] == 5 else 4
            index += 1


def ansi_to_html(text: str, state: AnsiState) -> str:
    """Escape `text`, then turn its SGR sequences into spans (other escapes are dropped)."""
    escaped = html.escape(text, quote=True)
    if "\x1b" not in escaped:  # the common line: no colour codes
        if _CONTROL.search(escaped):
            escaped = _OTHER_ESCAPES.sub("", escaped)
        classes = state.classes()
        return f'<span class="{" ".join(classes)}">{escaped}</span>' if classes else escaped
    out: list[str] = []
    open_span = False

    def start_span() -> None:
        nonlocal open_span
        classes = state.classes()
        if classes:
            out.append(f'<span class="{" ".join(classes)}">')
            open_span = True

    start_span()
    pos = 0
    for match in _CSI.finditer(escaped):
        out.append(_OTHER_ESCAPES.sub("", escaped[pos : match.start()]))
        pos = match.end()
        if match.group(2) != "m":
            continue
        if open_span:
            out.append("</span>")
            open_span = False
        state.apply(match.group(1))
        start_span()
    out.append(_OTHER_ESCAPES.sub("", escaped[pos:]))
    if open_span:
        out.append("</span>")
    return "".join(out)


# --- pages


@dataclass(frozen=True)
class Line:
    number: int | None
    """1-based line number when the page starts at offset 0, else None."""
    offset: int
    html: Markup
    error: bool
    cut: bool = False

    @property
    def anchor(self) -> str:
        return f"L{self.number}" if self.number is not None else f"B{self.offset}"


@dataclass(frozen=True)
class Block:
    """Consecutive lines, shown or folded behind a "show all" `<details>`."""

    lines: list[Line]
    folded: bool


@dataclass
class LogPage:
    start: int
    end: int
    size: int
    lines: list[Line] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    first_error: str | None = None
    errors: int = 0
    bytes_read: int = 0

    @property
    def earlier_end(self) -> int | None:
        """`end` of the previous page, or None at the start of the log."""
        return self.start if self.start > 0 else None

    @property
    def later_start(self) -> int | None:
        return self.end if self.end < self.size else None


def plan_page(
    size: int, start: int | None, end: int | None, page: int = PAGE_BYTES
) -> tuple[int, int, bool]:
    """(start, end, align): the byte range to read. Without `start` the page ends at `end` (the
    end of the log by default) and its first partial line is dropped (`align`)."""
    page = max(1, min(page, MAX_PAGE_BYTES))
    if start is not None:
        start = min(max(0, start), size)
        stop = size if end is None else min(max(start, end), size)
        return start, min(stop, start + page), False
    stop = size if end is None else min(max(0, end), size)
    begin = max(0, stop - page)
    return begin, stop, begin > 0


def read_page(
    source: RangeSource,
    matchers: Sequence[Matcher],
    *,
    start: int | None = None,
    end: int | None = None,
    page_bytes: int = PAGE_BYTES,
) -> LogPage:
    """Read and render one page (at most `MAX_PAGE_BYTES` from the source)."""
    size = source.size()
    begin, stop, align = plan_page(size, start, end, page_bytes)
    data = source.read_range(begin, stop - begin) if stop > begin else b""
    page = LogPage(start=begin, end=begin + len(data), size=size, bytes_read=len(data))
    if align:
        newline = data.find(b"\n")
        if newline != -1 and newline + 1 < len(data):
            data = data[newline + 1 :]
            page.start = begin + newline + 1
    # A page that stops mid-line (a forward page cut at the byte limit) ends at its last newline,
    # so the next page starts on a line boundary.
    if page.end < size:
        last = data.rfind(b"\n")
        if last != -1:
            page.end = page.start + last + 1
            data = data[: last + 1]
    page.lines = list(_lines(data, page.start, matchers))
    page.errors = sum(1 for line in page.lines if line.error)
    first = next((line for line in page.lines if line.error), None)
    page.first_error = first.anchor if first else None
    page.blocks = fold(page.lines)
    return page


def _lines(data: bytes, base: int, matchers: Sequence[Matcher]) -> Iterator[Line]:
    state = AnsiState()
    numbered = base == 0
    offset = base
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for index, raw in enumerate(raw_lines):
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        cut = len(text) > MAX_LINE_CHARS
        if cut:
            text = text[:MAX_LINE_CHARS]
        plain = strip_ansi(text)
        yield Line(
            number=index + 1 if numbered else None,
            offset=offset,
            html=Markup(ansi_to_html(text, state)),  # noqa: S704 - escaped by ansi_to_html
            error=is_error(matchers, plain),
            cut=cut,
        )
        offset += len(raw) + 1


def fold(lines: Sequence[Line]) -> list[Block]:
    """Blocks of lines: around errors and at the end shown, long error-free stretches folded.

    A page without any error line is shown whole: there is nothing to draw the eye to.
    """
    if not any(line.error for line in lines):
        return [Block(list(lines), False)] if lines else []
    keep = [False] * len(lines)
    for index, line in enumerate(lines):
        if line.error:
            for near in range(
                max(0, index - CONTEXT_LINES), min(len(lines), index + CONTEXT_LINES + 1)
            ):
                keep[near] = True
    for index in range(max(0, len(lines) - TAIL_LINES), len(lines)):
        keep[index] = True
    blocks: list[Block] = []
    run: list[Line] = []
    run_kept: bool | None = None
    for line, kept in zip(lines, keep, strict=True):
        if run_kept is not None and kept != run_kept:
            blocks.append(Block(run, not run_kept))
            run = []
        run.append(line)
        run_kept = kept
    if run:
        blocks.append(Block(run, not run_kept))
    # Short hidden stretches are not worth a click: show them.
    merged: list[Block] = []
    for block in blocks:
        folded = block.folded and len(block.lines) >= FOLD_MIN_LINES
        if merged and not merged[-1].folded and not folded:
            merged[-1] = Block(merged[-1].lines + block.lines, False)
        else:
            merged.append(Block(block.lines, folded))
    return merged


def lines_html(lines: Sequence[Line], here: str) -> Markup:
    """The lines' markup, built here rather than in a template loop (several times faster for a
    page of thousands of lines). `here` is the page's URL, the base of each line's link."""
    base = html.escape(here, quote=True)
    cut = '<span class="log-cut"> … (line cut)</span>'
    out = []
    for line in lines:
        anchor = line.anchor
        label = line.number if line.number is not None else f"+{line.offset}"
        out.append(
            f'<div class="log-line{" log-error" if line.error else ""}" id="{anchor}">'
            f'<a class="ln" href="{base}#{anchor}">{label}</a>'
            f'<span class="lt">{line.html}{cut if line.cut else ""}</span></div>\n'
        )
    return Markup("".join(out))  # noqa: S704 - line.html is escaped, the rest is ours


# --- finding the first error in a whole log


@dataclass(frozen=True)
class ErrorSearch:
    start: int
    """Where the search began."""
    stopped: int
    """Where it stopped: the end of the log, or `start + SCAN_LIMIT` (on a line boundary)."""
    size: int
    offset: int | None = None
    """The first error line's offset, or None when none was found in `start..stopped`."""

    @property
    def finished(self) -> bool:
        return self.offset is not None or self.stopped >= self.size


def find_error(
    source: RangeSource,
    line_matchers: Sequence[Matcher],
    chunk_matchers: Sequence[Matcher],
    start: int = 0,
    limit: int = SCAN_LIMIT,
) -> ErrorSearch:
    """The first error line at or after `start` (a line boundary), reading at most `limit` bytes
    in `SCAN_CHUNK` pieces. Each chunk is searched whole with the multiline pattern (one regex
    call per MB, not per line); a hit is confirmed on its line alone."""
    size = source.size()
    pos = min(max(0, start), size)
    end = min(size, pos + limit)
    while pos < end and chunk_matchers:
        data = source.read_range(pos, min(SCAN_CHUNK, end - pos))
        if not data:
            break
        if pos + len(data) < size:
            cut = data.rfind(b"\n")
            if cut != -1:
                data = data[: cut + 1]
            elif len(data) < SCAN_CHUNK:
                break  # the limit falls inside a line: stop at the line's start
        # Stripping colours and line prefixes and decoding keep every newline, so line k of
        # `text` is line k of `data`.
        text = _LINE_PREFIXES.sub(b"", _strip_bytes(data)).decode("utf-8", errors="replace")
        at = 0
        while at <= len(text):
            match = chunk_matchers[0].search(text, at)
            if match is None:
                break
            line_start = text.rfind("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.start())
            line = text[line_start : line_end if line_end != -1 else len(text)]
            if is_error(line_matchers, line.rstrip("\r")):
                return ErrorSearch(
                    start, pos, size, pos + _nth_line_offset(data, text.count("\n", 0, line_start))
                )
            if line_end == -1:
                break
            at = line_end + 1
        pos += len(data)
    return ErrorSearch(start, pos, size)


_CSI_BYTES = re.compile(rb"\x1b\[[0-9;?]*[@-~]")
_OTHER_ESCAPE_BYTES = re.compile(rb"\x1b[@-Z\\-_]")
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F])


def _strip_bytes(data: bytes) -> bytes:
    """`strip_ansi` on undecoded bytes (faster on a MB; no escape byte is part of a UTF-8
    sequence, so stripping before decoding is the same)."""
    if b"\x1b" in data:
        data = _OTHER_ESCAPE_BYTES.sub(b"", _CSI_BYTES.sub(b"", data))
    return data.translate(None, _CONTROL_BYTES)


def _nth_line_offset(data: bytes, index: int) -> int:
    offset = 0
    for _ in range(index):
        offset = data.index(b"\n", offset) + 1
    return offset


def error_anchor(source: RangeSource, offset: int) -> tuple[int, str]:
    """(page start, line anchor) for showing the line at `offset` with some lines before it."""
    if offset <= ERROR_CONTEXT_BYTES:
        lines = source.read_range(0, offset).count(b"\n")
        return 0, f"L{lines + 1}"
    begin = offset - ERROR_CONTEXT_BYTES
    before = source.read_range(begin, ERROR_CONTEXT_BYTES)
    newline = before.find(b"\n")
    start = begin + newline + 1 if newline != -1 else offset
    return start, f"B{offset}"
