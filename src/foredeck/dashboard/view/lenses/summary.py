"""Summary lens, first on the run page: what failed, above the fold (Spyglass opens on failures).

The failed tasks of `pipeline-run.json`, the failed tests of the JUnit reports with their
messages, and the first error lines of the build log, each linking to where it is shown whole.
A run with nothing failed gets no summary.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from foredeck.dashboard.links import format_duration
from foredeck.dashboard.view.graph import entry_seconds, task_entries, task_href
from foredeck.dashboard.view.lenses import buildlog, junit
from foredeck.dashboard.view.lenses.base import Lens, LensContext
from foredeck.dashboard.view.logs import Line
from foredeck.storage.prow import PIPELINE_RUN

MAX_TESTS = 20
MAX_TASKS = 20
MAX_ERROR_LINES = 5
MAX_MESSAGE_CHARS = 500
FAILED_TASKS = {"Failed", "TimedOut", "Errored"}
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z ")


@dataclass(frozen=True)
class FailedTask:
    name: str
    status: str
    reason: str
    duration: str
    href: str


@dataclass(frozen=True)
class FailedTest:
    name: str
    message: str


@dataclass(frozen=True)
class ErrorLine:
    text: str
    href: str


def failed_tasks(ctx: LensContext) -> list[FailedTask]:
    run = ctx.json(PIPELINE_RUN)
    if not isinstance(run, dict):
        return []
    found = []
    for name, entry in task_entries(run).items():
        status = str(entry.get("status", ""))
        if status not in FAILED_TASKS:
            continue
        reason = str(entry.get("reason", ""))[:MAX_MESSAGE_CHARS]
        duration = format_duration(entry_seconds(entry))
        found.append(FailedTask(name, status, reason, duration, task_href(ctx.job.id, name)))
    return found[:MAX_TASKS]


def failed_tests(ctx: LensContext) -> tuple[list[FailedTest], int]:
    """The first failed tests (with their messages) and how many failed in all."""
    found = junit.report(ctx)
    if found is None:
        return [], 0
    failed = [case for case in found[0].ordered() if case.status == "failed"]
    tests = []
    for case in failed[:MAX_TESTS]:
        name = f"{case.classname}.{case.name}" if case.classname else case.name
        message = case.message or _first_line(case.output)
        tests.append(FailedTest(name, message[:MAX_MESSAGE_CHARS]))
    return tests, len(failed)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def first_errors(ctx: LensContext) -> tuple[list[ErrorLine], bool]:
    """The first error lines of the log's page shown (the tail, or the whole of a short log),
    each linking to its line; and whether that page is the whole log. No byte more is read
    than the build-log lens reads: a 1 GB log costs the page, as before."""
    shown = buildlog.page(ctx)
    if shown is None:
        return [], True
    base = f"/view/{ctx.job.id}"
    if ctx.log_start is not None or ctx.log_end is not None:
        base += f"?start={shown.start}" + (f"&end={shown.end}" if shown.later_start else "")
    lines = [line for line in shown.lines if line.error][:MAX_ERROR_LINES]
    whole = shown.start == 0 and shown.later_start is None
    return [ErrorLine(_plain(line), f"{base}#{line.anchor}") for line in lines], whole


_TAG = re.compile(r"<[^>]*>")


def _plain(line: Line) -> str:
    """The line's text without its timestamp (the template escapes it again)."""
    # Tags removed, then entities unescaped; not `Markup.striptags`, which also collapses
    # runs of spaces (pytest's `E       assert` would read `E assert`).
    text = html.unescape(_TAG.sub("", str(line.html)))
    return _TIMESTAMP.sub("", text, count=1)


def build(ctx: LensContext) -> Lens | None:
    tasks = failed_tasks(ctx)
    tests, failed = failed_tests(ctx)
    errors, whole = first_errors(ctx)
    if ctx.job.state == "success" and not (tasks or failed):
        errors = []  # a passing run's "error" lines are noise in a summary of failures
    if not (tasks or tests or errors):
        return None
    data: dict[str, Any] = {
        "tasks": tasks,
        "tests": tests,
        "failed": failed,
        "errors": errors,
        "whole_log": whole,
    }
    return Lens("summary", "What failed", data)
