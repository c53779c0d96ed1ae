"""What `foredeck run` shows while it runs: a live table on a terminal, plain lines otherwise.

Progress goes to stderr, the final summary to stdout, so `foredeck run ... > summary.txt` keeps
the table and a CI log still shows one line per task event.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from foredeck.execute.runstate import RunEvent, RunResult
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.pipeline.objects import passed_through
from foredeck.storage import prow

_STYLE = {
    "Succeeded": "green",
    "Failed": "red",
    "TimedOut": "red",
    "Cancelled": "yellow",
    "Skipped": "dim",
    "Running": "cyan",
}


@dataclass
class _Row:
    status: str = "Pending"
    attempt: int = 0
    started: float | None = None
    finished: float | None = None


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


class Progress:
    def __init__(self, spec: PipelineRunSpec, out_dir: Path) -> None:
        self.spec = spec
        self.out_dir = out_dir
        self.rows: dict[str, _Row] = {}
        self.console = Console(stderr=True, highlight=False)
        self._live: Live | None = None

    def start(self) -> None:
        if self.console.is_terminal:
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def note(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text)
        else:
            self._line(text)

    def _line(self, text: str) -> None:
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        sys.stderr.flush()

    def on_event(self, event: RunEvent) -> None:
        if event.kind == "run-started" and self._live is None:
            self._line(f"run {event.run}: started, output in {self.out_dir}")
        if event.kind == "run-started" and self.spec.cluster_objects:
            passed = passed_through(self.spec.cluster_objects)
            if passed:
                self.note(passed)
        if event.task is None:
            return
        row = self.rows.setdefault(event.task, _Row())
        if event.kind == "task-started":
            row.status = "Running"
            row.attempt = event.attempt
            if row.started is None:
                row.started = event.time
            if self._live is None:
                self._line(f"{event.task}: running (attempt {event.attempt})")
        elif event.kind == "task-retry":
            if self._live is None:
                self._line(f"{event.task}: attempt {event.attempt} {event.status}, retrying")
        elif event.kind == "task-finished":
            row.status = event.status or "?"
            row.finished = event.time
            if self._live is None:
                elapsed = "" if row.started is None else f" in {event.time - row.started:.1f}s"
                why = f" ({event.reason})" if event.reason else ""
                self._line(f"{event.task}: {row.status}{elapsed}{why}")

    def __rich__(self) -> Table:
        now = time.time()
        table = Table(box=box.SIMPLE, title=f"foredeck run {self.spec.name}", title_justify="left")
        table.add_column("task")
        table.add_column("status")
        table.add_column("attempt", justify="right")
        table.add_column("elapsed", justify="right")
        for name, row in self.rows.items():
            end = row.finished if row.finished is not None else now
            elapsed = None if row.started is None else end - row.started
            attempt = str(row.attempt) if row.attempt else ""
            status = Text(row.status.lower(), style=_STYLE.get(row.status, ""))
            table.add_row(name, status, attempt, _seconds(elapsed))
        return table

    def summary(self, result: RunResult | None) -> None:
        """The final table on stdout, from the result or, if the run was cut short, the file."""
        data: dict[str, Any] | None = result.to_json() if result is not None else None
        if data is None:
            try:
                data = json.loads((self.out_dir / prow.PIPELINE_RUN).read_text())
            except (OSError, ValueError):
                data = None
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
        if data is None:
            console.print(f"run {self.spec.name}: cancelled; no results in {self.out_dir}")
            return
        rows = [
            [
                name,
                str(task.get("status", "")),
                str(task.get("attempts", "")),
                _duration(task.get("started"), task.get("finished")),
                str(task.get("reason", ""))[:80],
            ]
            for name, task in data.get("tasks", {}).items()
        ]
        _print_table(console, rows)
        for name, value in data.get("results", {}).items():
            shown = value if isinstance(value, str) else json.dumps(value)
            console.print(f"result {name} = {shown}")
        status = str(data.get("status", "Cancelled"))
        console.print(
            Text.assemble(
                f"run {data.get('name', self.spec.name)}: ",
                (status, _STYLE.get(status, "")),
                f"  ({self.out_dir}/{prow.BUILD_LOG})",
            )
        )


_COLUMNS = ("task", "status", "attempts", "duration", "reason")
_RIGHT = frozenset({"attempts", "duration"})
_PLAIN = re.compile(r"[ !-9;-Z\\^-~]*")
"""Printable ASCII but `:` and `[` `]`, which rich would read as emoji codes or markup."""


def _print_table(console: Console, rows: list[list[str]]) -> None:
    """The summary table, drawn as rich draws it (`box.SIMPLE`), status in colour."""
    text = _plain_table(rows, console.width) if console.color_system is None else None
    if text is not None:
        console.file.write(text)  # rich's own drawing costs ~1 ms a row; a big run has many
        console.file.flush()
        return
    table = Table(box=box.SIMPLE)
    for column in _COLUMNS:
        table.add_column(column, justify="right" if column in _RIGHT else "left")
    for name, status, *rest in rows:
        table.add_row(name, Text(status, style=_STYLE.get(status, "")), *rest)
    console.print(table)


def _plain_table(rows: list[list[str]], width: int) -> str | None:
    """What rich prints for the table without colours, or None where rich would do more than
    pad each cell (a cell to wrap or crop, markup, an emoji code, a wide or control character).
    `tests/execute/test_progress_table.py` compares the two."""
    cells = [list(_COLUMNS), *rows]
    if not all(_PLAIN.fullmatch(cell) for row in rows for cell in row):
        return None
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    total = sum(widths) + 3 * len(widths) + 1  # one space each side of a cell, one between
    if total > width:
        return None
    lines = [" " * total]
    for index, row in enumerate(cells):
        padded = (
            cell.rstrip().rjust(size) if column in _RIGHT else cell.ljust(size)
            for column, cell, size in zip(_COLUMNS, row, widths, strict=True)
        )
        lines.append("  " + "   ".join(padded) + "  ")
        if index == 0:
            lines.append(" " + "\u2500" * (total - 2) + " ")
    lines.append(" " * total)
    return "\n".join(lines) + "\n"


def _duration(started: object, finished: object) -> str:
    from datetime import datetime

    if not isinstance(started, str) or not isinstance(finished, str):
        return ""
    try:
        begin = datetime.fromisoformat(started.replace("Z", "+00:00"))
        end = datetime.fromisoformat(finished.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return _seconds((end - begin).total_seconds())
