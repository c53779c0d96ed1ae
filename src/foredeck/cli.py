"""The `foredeck` command (its Typer app is `foredeck.cli_app`).

`foredeck run` is read first without Typer (`execute.run_args`): Typer and the pydantic it
converts parameters with cost a one-task run more than the run itself. Any command line that
reader leaves alone (help, errors, every other command) goes to Typer.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from foredeck.extras import MissingExtra

if TYPE_CHECKING:
    from foredeck.cli_app import app as app
else:

    def __getattr__(name: str) -> object:
        if name == "app":  # `from foredeck.cli import app`, as before the app had its module
            from foredeck.cli_app import app

            return app
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    try:
        code = _fast_run(sys.argv[1:])
        if code is None:
            from foredeck.cli_app import app

            app()
        else:
            sys.exit(code)
    except MissingExtra as exc:  # a feature of an extra that is not installed: one line
        sys.stderr.write(f"foredeck: {exc}\n")
        sys.exit(2)


def _fast_run(argv: Sequence[str]) -> int | None:
    """`foredeck run ...`'s exit code, or None when Typer is to read the command line."""
    if argv[:1] != ["run"]:
        return None
    from foredeck.execute.run_args import parse_run_args

    args = parse_run_args(argv[1:])
    if args is None:
        return None
    from foredeck.execute.cli import execute

    try:
        return execute(args)
    except KeyboardInterrupt:  # as Typer: before the run handles signals itself
        return 130
    except BrokenPipeError:  # as Click: the reader has gone; nothing more to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.dup2(devnull, sys.stderr.fileno())
        return 1


if __name__ == "__main__":
    main()
