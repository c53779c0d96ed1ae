"""The run page's pieces without a database: log pages, ANSI, folding, JUnit, graph layout."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from foredeck.dashboard.view.artifacts import content_headers, looks_like_text
from foredeck.dashboard.view.graph import Graph, Node, build_graph, layout, render_svg
from foredeck.dashboard.view.logs import (
    DEFAULT_ERROR_PATTERNS,
    FOLD_MIN_LINES,
    AnsiState,
    ErrorSearch,
    LogMatchers,
    ansi_to_html,
    compile_patterns,
    error_anchor,
    error_patterns,
    find_error,
    job_error_patterns,
    plan_page,
    read_page,
)
from foredeck.storage.junit import JunitError, is_junit, parse, read_report

PROW = compile_patterns(DEFAULT_ERROR_PATTERNS)


@dataclass
class BytesSource:
    data: bytes
    read: int = 0

    def size(self) -> int:
        return len(self.data)

    def read_range(self, start: int, length: int) -> bytes:
        chunk = self.data[start : start + length]
        self.read += len(chunk)
        return chunk


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("ERROR: boom", True),
        ("--- FAIL: TestX", True),
        ("Failure [3.2 seconds]", True),
        ("goroutine 1 [running]: panic here", True),
        ("E0412 12:00:00 klog error", True),
        ("the step timed out after 10m", True),
        ("FAILED to parse", False),
        ("  E0412 indented", False),
        ("all good", False),
        # As stored: `<time> [task/step] ` first, which the patterns look past.
        ("2026-12-07T20:11:19.123Z [unit/test] E1207 20:11:19.1 1 pod.go:3] gone", True),
        ("2026-12-07T20:11:19.123Z [unit/test] I1207 20:11:19.1 1 pod.go:3] fine", False),
        ("2026-12-07T20:11:19.123Z [unit/test] FAILED tests/test_a.py::test_b - assert 1", True),
        ("2026-12-07T20:11:19.123Z [unit/test] E       assert 1 == 2", True),
        ("2026-12-07T20:11:19.123Z [unit/go] --- FAIL: TestParse (0.00s)", True),
        ("2026-12-07T20:11:19.123Z [unit/py] Traceback (most recent call last):", True),
        ("2026-12-07T20:11:19.123Z [build/make] make: *** [Makefile:3: all] Error 1", True),
        ("2026-12-07T20:11:19.123Z [build/make] make[2]: *** [x.o] Error 2", True),
        ("2026-12-07T20:11:19.123Z [build/make] make: Nothing to be done", False),
        ("2026-12-07T20:11:19.123Z [a/b] Everything passed", False),
        ("ran at 2026-12-07T20:11:19.123Z [a/b] E1207 is quoted", False),
    ],
)
def test_prow_default_patterns(line: str, error: bool) -> None:
    page = read_page(BytesSource(line.encode() + b"\n"), PROW)
    assert page.lines[0].error is error


def test_find_error_looks_past_the_line_prefix() -> None:
    body = b"".join(b"2026-12-07T20:11:19.%03dZ [t/s] I1207 fine %d\n" % (i, i) for i in range(500))
    bad = b"2026-12-07T20:11:20.000Z [t/s] E1207 20:11:20 1 x.go:1] broken\n"
    source = BytesSource(body + bad + body)
    found = find_error(source, PROW, compile_patterns(DEFAULT_ERROR_PATTERNS, multiline=True))
    assert found.offset == len(body)


def test_job_error_patterns_are_added_for_their_job_only() -> None:
    config = {"dashboard": {"job_error_patterns": {"lint": ["^would reformat"], "x": 3}}}
    assert job_error_patterns(config) == {"lint": ["^would reformat"]}
    matchers = LogMatchers.of(config)
    page = read_page(
        BytesSource(b"would reformat a.py\nERROR: b\n"), matchers.for_job("lint").lines
    )
    assert [line.error for line in page.lines] == [True, True]
    other = read_page(
        BytesSource(b"would reformat a.py\nERROR: b\n"), matchers.for_job("unit").lines
    )
    assert [line.error for line in other.lines] == [False, True]


def test_error_patterns_setting_and_fallback() -> None:
    assert error_patterns({}) == list(DEFAULT_ERROR_PATTERNS)
    assert error_patterns({"dashboard": {"error_patterns": "oops"}}) == ["oops"]
    assert error_patterns({"dashboard": {"error_patterns": ["a", 3, ""]}}) == ["a"]
    assert len(compile_patterns(["(bad", "good", "x" * 5000])) == 1


def test_hostile_pattern_runs_in_linear_time() -> None:
    """RE2: a catastrophic-backtracking pattern on a long line returns at once."""
    matchers = compile_patterns([r"(a+)+$"])
    started = time.monotonic()
    page = read_page(BytesSource(b"a" * 5000 + b"!\n"), matchers)
    assert time.monotonic() - started < 2.0
    assert not page.lines[0].error


def test_ansi_is_escaped_first_then_coloured_across_lines() -> None:
    state = AnsiState()
    first = ansi_to_html("\x1b[1;31m<b>bold red", state)
    assert first == '<span class="ansi-bold ansi-fg-31">&lt;b&gt;bold red</span>'
    second = ansi_to_html("still red\x1b[0m plain\x1b[K \x1b[38;5;200mx", state)
    assert second == '<span class="ansi-bold ansi-fg-31">still red</span> plain x'
    assert ansi_to_html("a\x07b\x00c", AnsiState()) == "abc"


def test_tail_page_starts_on_a_line_and_pages_back() -> None:
    lines = [f"line {i:04d}\n".encode() for i in range(1000)]  # 10 bytes each
    source = BytesSource(b"".join(lines))
    page = read_page(source, PROW, page_bytes=95)
    assert source.read == 95
    assert page.end == 10_000 and page.start == 9910  # partial line dropped
    assert [line.offset for line in page.lines][:2] == [9910, 9920]
    assert page.lines[0].number is None and page.lines[0].anchor == "B9910"
    assert page.earlier_end == 9910 and page.later_start is None
    back = read_page(source, PROW, end=page.earlier_end, page_bytes=95)
    assert back.end == 9910 and back.lines[-1].html == "line 0990"
    first = read_page(source, PROW, start=0, page_bytes=95)
    assert first.lines[0].anchor == "L1" and first.end == 90  # cut at the last newline
    assert first.later_start == 90
    assert plan_page(100, 500, None) == (100, 100, False)
    assert plan_page(100, None, 10**9) == (0, 100, False)


def test_long_clean_stretches_fold_and_errors_stay_visible() -> None:
    body = [f"ok {i}" for i in range(200)]
    body[100] = "ERROR: here"
    page = read_page(BytesSource(("\n".join(body) + "\n").encode()), PROW)
    folded = [b for b in page.blocks if b.folded]
    shown = [line.html for b in page.blocks if not b.folded for line in b.lines]
    assert "ERROR: here" in shown and "ok 95" in shown and "ok 105" in shown
    assert "ok 199" in shown  # the tail
    assert all(len(b.lines) >= FOLD_MIN_LINES for b in folded) and len(folded) == 2
    assert page.first_error == "L101"
    clean = read_page(BytesSource(b"a\nb\n" * 50), PROW)
    assert [b.folded for b in clean.blocks] == [False]


def test_junit_rejects_entities_and_bad_xml() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><testsuite>&a;</testsuite>'
    with pytest.raises(JunitError, match="DOCTYPE"):
        parse(bomb, "junit.xml")
    with pytest.raises(JunitError, match="not valid XML"):
        parse(b"<testsuite>", "junit.xml")
    files = {"artifacts/junit_a.xml": b"<oops", "artifacts/junit_b.xml": b'<testcase name="t"/>'}
    report = read_report(files, files.__getitem__, lambda p: len(files[p]))
    assert [c.name for c in report.cases] == ["t"] and report.errors[0].startswith(
        "artifacts/junit_a.xml: "
    )
    assert is_junit("artifacts/x/junit_1.xml") and not is_junit("junit.xml")
    assert not is_junit("artifacts/report.xml")


def test_safe_content_types() -> None:
    assert content_headers("a.html", b"<script>")[0] == "text/plain; charset=utf-8"
    assert content_headers("a.svg", b"<svg onload=x>")[0] == "text/plain; charset=utf-8"
    assert content_headers("a.png", b"\x89PNG")[0] == "image/png"
    kind, headers = content_headers("a.bin", b"\x1f\x8b\x00")
    assert kind == "application/octet-stream" and headers["Content-Disposition"].startswith(
        "attachment"
    )
    kind, headers = content_headers("noext", b"plain words")
    assert kind.startswith("text/plain") and "Content-Disposition" not in headers
    assert looks_like_text("é".encode()[:1] + b"")  # a character cut at the sample's end
    assert not looks_like_text(b"\xff\xfe\x00")


def test_graph_layout_survives_cycles_and_escapes_names() -> None:
    nodes = {n: Node(n, "Succeeded", 1, 1.0, None, False) for n in ("a", "b", "<c>")}
    graph = Graph(nodes, [("a", "b"), ("b", "a"), ("a", "<c>")])
    layout(graph)
    svg = str(render_svg(graph, 5))
    assert "&lt;c&gt;" in svg and "<c>" not in svg
    assert 'href="/view/5/task/%3Cc%3E"' in svg


def test_graph_from_recorded_run_after_and_matrix() -> None:
    run = {
        "tasks": {
            "a": {"status": "Succeeded", "attempts": 1},
            "m": {
                "status": "Failed",
                "attempts": 1,
                "instances": ["m[0]", "m[1]"],
                "runAfter": ["a"],
            },
            "m[0]": {"status": "Failed", "pipelineTask": "m", "params": {}},
            "m[1]": {"status": "Succeeded", "pipelineTask": "m", "params": {}},
        }
    }
    graph = build_graph(run)
    assert set(graph.nodes) == {"a", "m"} and graph.edges == [("a", "m")]
    assert graph.nodes["m"].rank == 1 and "2 instances" in str(render_svg(graph, 1))


def test_find_error_scans_chunks_and_confirms_each_line() -> None:
    filler = b"".join(f"ok line {i:06d}\n".encode() for i in range(200_000))  # ~3 MB
    source = BytesSource(filler + b"a\nb\n" + b"\x1b[31mERROR:\x1b[0m late\n" + filler)
    chunk = compile_patterns([*DEFAULT_ERROR_PATTERNS, r"a\sb"], multiline=True)
    line = compile_patterns([*DEFAULT_ERROR_PATTERNS, r"a\sb"])
    found = find_error(source, line, chunk)
    # `a\sb` matches across the newline in a chunk, not on a line: the ERROR line wins.
    assert found.offset == len(filler) + 4 and found.finished
    start, anchor = error_anchor(source, found.offset)
    assert anchor == f"B{found.offset}" and 0 < found.offset - start <= 2048
    assert source.data[start - 1 : start] == b"\n"
    page = read_page(source, line, start=start)
    assert page.first_error == anchor
    # Bounded: a limit short of the error stops on a line boundary and says where.
    short = find_error(source, line, chunk, limit=1_000_000)
    assert short.offset is None and not short.finished and short.stopped <= 1_000_000
    assert source.data[short.stopped - 1 : short.stopped] == b"\n"
    again = find_error(source, line, chunk, start=short.stopped)
    assert again.offset == found.offset
    assert error_anchor(BytesSource(b"x\nERROR: y\n"), 2) == (0, "L2")
    assert find_error(BytesSource(b"fine\n"), line, chunk) == ErrorSearch(0, 5, 5)
