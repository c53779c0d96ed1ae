"""The run page's summary: what failed, first, on runs of real pipelines (issue #19, item 1)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest

from foredeck.storage.store import ArtifactStore, open_store
from tests.dashboard.view.builds import XSS, Build, add_row, client_for, run_and_publish
from tests.db.fixtures import Database
from tests.kit.jobs import tekton_task

JUNIT = f"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="unit" tests="2">
  <testcase classname="tests.test_a" name="test_ok" time="0.01"/>
  <testcase classname="tests.test_a" name="test_b" time="0.02">
    <failure message="{html.escape(XSS, quote=True)} assert 1 == 2">E   assert 1 == 2</failure>
  </testcase>
</testsuite>
"""

PASSING_JUNIT = """<testsuite name="unit" tests="1">
  <testcase classname="tests.test_a" name="test_ok" time="0.01"/>
</testsuite>
"""

# What pytest, go test, klog and make print when they fail, after some ordinary output.
FAILING_OUTPUT = (
    "#!/bin/sh\n"
    f"cat > \"$ARTIFACTS/junit_unit.xml\" <<'EOF'\n{JUNIT}EOF\n"
    'for i in $(seq 1 30); do echo "collecting $i"; done\n'
    "echo 'I1207 20:11:19.100000   1 pod.go:3] pod started'\n"
    "echo 'E1207 20:11:19.200000   1 pod.go:9] pod gone'\n"
    "echo '--- FAIL: TestParse (0.00s)'\n"
    "echo 'E       assert 1 == 2'\n"
    "echo 'FAILED tests/test_a.py::test_b - assert 1 == 2'\n"
    "echo 'make: *** [Makefile:3: test] Error 1'\n"
    "exit 1\n"
)


def pipeline(unit_script: str) -> list[dict[str, Any]]:
    return [
        tekton_task("prepare", "#!/bin/sh\necho preparing\n"),
        tekton_task("unit", unit_script),
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "Pipeline",
            "metadata": {"name": "ci"},
            "spec": {
                "tasks": [
                    {"name": "prepare", "taskRef": {"name": "prepare"}},
                    {"name": "unit", "taskRef": {"name": "unit"}, "runAfter": ["prepare"]},
                ]
            },
        },
    ]


@pytest.fixture(scope="module")
def builds(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ArtifactStore, Build, Build]]:
    root = tmp_path_factory.mktemp("summary")
    store = open_store(f"file://{root / 'store'}")
    failing = run_and_publish(
        store, root / "fail", "unit-fail", "periodic", {"pipeline": pipeline(FAILING_OUTPUT)}
    )
    passing_script = (
        f"#!/bin/sh\ncat > \"$ARTIFACTS/junit_unit.xml\" <<'EOF'\n{PASSING_JUNIT}EOF\n"
        "echo 'all good'\n"
    )
    passing = run_and_publish(
        store, root / "pass", "unit-pass", "periodic", {"pipeline": pipeline(passing_script)}
    )
    yield store, failing, passing


def section(page: str, lens: str) -> str:
    match = re.search(rf'<section class="lens" id="lens-{lens}".*?</section>', page, re.S)
    assert match, f"lens {lens} missing"
    return match.group(0)


def test_summary_comes_first_with_failed_task_tests_and_error_lines(
    db: Database, builds: tuple[ArtifactStore, Build, Build]
) -> None:
    store, failing, _ = builds
    assert failing.state == "failure"
    job_id = add_row(db, failing)
    page = client_for(db, store).get(f"/view/{job_id}").text
    lenses = re.findall(r'<section class="lens" id="lens-(\w+)"', page)
    assert lenses[0] == "summary"
    summary = section(page, "summary")
    # The failed task, linking to its page; the task that passed is not listed.
    assert re.search(rf'<li data-task="unit"><a href="/view/{job_id}/task/unit">unit</a>', summary)
    assert 'data-task="prepare"' not in summary
    # The failed test with its message, escaped.
    assert "tests.test_a.test_b" in summary and "test_ok" not in summary
    assert "&lt;script&gt;alert(" in summary and XSS not in page
    # Every failure line the tools printed, in log order, linking to its line on the log page.
    errors = re.findall(r'<a class="summary-error" href="([^"]+)">(.*?)</a>', summary)
    texts = [html.unescape(text) for _, text in errors]
    assert [t.split("] ", 1)[1] if "] " in t else t for t in texts] == [
        "E1207 20:11:19.200000   1 pod.go:9] pod gone",
        "--- FAIL: TestParse (0.00s)",
        "E       assert 1 == 2",  # runs of spaces kept
        "FAILED tests/test_a.py::test_b - assert 1 == 2",
        "make: *** [Makefile:3: test] Error 1",
    ]
    assert all(text.startswith("[unit/run] ") for text in texts), texts
    log = section(page, "buildlog")
    for href, _ in errors:
        path, anchor = href.split("#")
        assert path == f"/view/{job_id}"
        assert re.search(rf'<div class="log-line log-error" id="{anchor}">', log)
    assert "pod started" not in summary
    assert "find_error" not in summary  # the page shown is the whole log


def test_passing_run_has_no_summary_and_no_red_zero(
    db: Database, builds: tuple[ArtifactStore, Build, Build]
) -> None:
    store, _, passing = builds
    assert passing.state == "success"
    page = client_for(db, store).get(f"/view/{add_row(db, passing)}").text
    assert 'id="lens-summary"' not in page
    junit = section(page, "junit")
    assert '<span class="junit-none-failed">0 failed</span>' in junit
    assert 'class="junit-failed"' not in junit


def test_durations_have_sub_second_precision_and_graph_agrees_with_table(
    db: Database, builds: tuple[ArtifactStore, Build, Build]
) -> None:
    store, _, passing = builds
    page = client_for(db, store).get(f"/view/{add_row(db, passing)}").text
    graph = section(page, "graph")
    rows = dict(
        re.findall(
            r'<tr data-task="(\w+)">.*?</td>\s*<td class="status.*?</td>\s*<td>([^<]*)</td>',
            graph,
            re.S,
        )
    )
    assert set(rows) == {"prepare", "unit"}
    for task, duration in rows.items():
        assert re.fullmatch(r"(&lt;1ms|\d+ms|\d+(\.\d)?s)", duration), duration
        node = re.search(rf'data-task="{task}".*?</g>', graph, re.S)
        assert node and f"Succeeded · {duration}<" in node.group(0)
    # In-repo pipeline edges: prepare -> unit.
    assert 'data-from="prepare" data-to="unit"' in graph
