"""`foredeck run`'s summary table drawn without rich is exactly the table rich draws."""

from __future__ import annotations

import io
import random

import pytest
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from foredeck.execute import progress
from foredeck.execute.progress import _COLUMNS, _RIGHT, _plain_table, _print_table


def drawn_by_rich(rows: list[list[str]], width: int) -> str:
    out = io.StringIO()
    table = Table(box=box.SIMPLE)
    for column in _COLUMNS:
        table.add_column(column, justify="right" if column in _RIGHT else "left")
    for name, status, *rest in rows:
        table.add_row(name, Text(status, style="green"), *rest)
    Console(file=out, highlight=False, width=width).print(table)
    return out.getvalue()


TYPICAL = [
    ["build", "Succeeded", "1", "0.3s", ""],
    ["unit-tests", "Failed", "3", "12.0s", "exit code 1"],
    ["lint", "Skipped", "", "", "when expression false"],
]


@pytest.mark.parametrize("rows", [TYPICAL, [], [["t", "Succeeded", "1", "0.0s", ""]]])
def test_a_run_summary_is_the_table_rich_draws(rows: list[list[str]]) -> None:
    assert _plain_table(rows, 120) == drawn_by_rich(rows, 120)


def test_random_printable_cells_at_and_around_the_width_are_drawn_as_rich_draws() -> None:
    rnd = random.Random(13)
    alphabet = [chr(c) for c in range(32, 127) if chr(c) not in ":[]"]
    drawn = 0
    for _ in range(300):
        rows = [
            ["".join(rnd.choices(alphabet, k=rnd.randint(0, 12))) for _ in _COLUMNS]
            for _ in range(rnd.randint(0, 4))
        ]
        natural = sum(max(len(row[i]) for row in [list(_COLUMNS), *rows]) for i in range(5))
        fits = natural + 3 * len(_COLUMNS) + 1
        width = fits + rnd.choice([-1, 0, 1, 7])
        text = _plain_table(rows, width)
        if width < fits:
            assert text is None, "a table that rich must squeeze is left to rich"
            continue
        assert text == drawn_by_rich(rows, width), rows
        drawn += 1
    assert drawn > 150


@pytest.mark.parametrize(
    "reason",
    ["[bold]x[/bold]", "see :warning:", "a\nb", "tab\there", "caf\u00e9", "\u5b8c\u6210"],
)
def test_markup_emoji_codes_and_other_characters_are_left_to_rich(reason: str) -> None:
    assert _plain_table([["t", "Failed", "1", "0.1s", reason]], 120) is None


def test_a_colour_console_gets_rich_s_table(monkeypatch: pytest.MonkeyPatch) -> None:
    def plain(rows: list[list[str]], width: int) -> str:
        raise AssertionError("a colour console must not get the plain drawing")

    monkeypatch.setattr(progress, "_plain_table", plain)
    out = io.StringIO()
    _print_table(Console(file=out, force_terminal=True, width=120), TYPICAL)
    assert "\x1b[" in out.getvalue() and "unit-tests" in out.getvalue()
