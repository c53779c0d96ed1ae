"""`foredeck run`'s command line read without Typer, so that a run starts fast.

Typer converts each parameter through a pydantic `TypeAdapter`: importing Typer and pydantic
and building the adapters takes longer than the rest of a one-task run. The `foredeck` command
therefore reads `run`'s command line here first, as Click's parser reads it (options before,
between or after the files; `--opt=value`, `--opt value`, `-pvalue`, `-p value`; `--` ends the
options; an option given twice keeps its last value), and hands everything else to Typer, which
then parses it again: `--help`, an unknown option, a missing value, a value Typer would reject
(`--parallel 0`), no file. So the fast reader never answers differently from Typer: it either
gives the same `RunArgs` or gives up. `tests/execute/test_cli_imports.py` holds it to Typer's
definition of the options (`execute.cli_options.run_command`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from foredeck.execute.cli import RunArgs

VALUE_OPTIONS = {
    "--param": "param",
    "-p": "param",
    "--out": "out",
    "--parallel": "parallel",
    "--emit": "emit",
    "--max-output": "max_output",
    "--workspace": "workspace",
    "--repo": "repo",
    "--ref": "ref",
    "--clone-uri": "clone_uri",
    "--upload": "upload",
    "--utility-image": "utility_image",
    "--runtime": "runtime",
}
"""Options that take a value, by flag: the `RunArgs` field."""
FLAG_OPTIONS = {"--decorate": "decorate"}
REPEATABLE = frozenset({"param", "workspace"})
_COUNT = re.compile(r"[0-9]{1,9}")


def parse_run_args(argv: Sequence[str]) -> RunArgs | None:
    """`run`'s arguments (what follows `run`), or None: let Typer read them."""
    files: list[str] = []
    given: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    flags: dict[str, bool] = {}
    tokens = iter(argv)
    for arg in tokens:
        if arg == "--":
            files.extend(tokens)
            break
        if arg == "-" or not arg.startswith("-"):
            files.append(arg)
            continue
        name, inline = _split(arg)
        if name in FLAG_OPTIONS and inline is None:
            flags[FLAG_OPTIONS[name]] = True
            continue
        option = VALUE_OPTIONS.get(name)
        value = inline if inline is not None else next(tokens, None)
        if option is None or value is None:
            return None
        if option in REPEATABLE:
            repeated.setdefault(option, []).append(value)
        else:
            given[option] = value
    return _checked(files, given, {**repeated, **flags})


def _split(token: str) -> tuple[str, str | None]:
    """`--name=value`, `-pvalue`: the flag and the value written with it."""
    if token.startswith("--"):
        name, equals, value = token.partition("=")
        return name, value if equals else None
    return token[:2], token[2:] or None


def _checked(
    files: list[str], given: dict[str, str], others: dict[str, list[str] | bool]
) -> RunArgs | None:
    """The arguments, or None where Typer would say something (an error) instead."""
    if not files or "" in files or given.get("out") == "":
        return None
    values: dict[str, object] = {**given, **others}
    if "parallel" in given:
        if not _COUNT.fullmatch(given["parallel"]) or int(given["parallel"]) < 1:
            return None
        values["parallel"] = int(given["parallel"])
    if "out" in given:
        values["out"] = Path(given["out"])
    return RunArgs.of(files=[Path(name) for name in files], **values)
