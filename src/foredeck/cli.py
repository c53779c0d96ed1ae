"""The `foredeck` command. Each component contributes its commands from its own module."""

from __future__ import annotations

import sys

import typer

from foredeck.config.cli import config_app
from foredeck.execute.cli import run_command
from foredeck.extras import MissingExtra
from foredeck.jobs_cli import jobs_app
from foredeck.serve.cli import serve_command
from foredeck.util_cli import util_app

app = typer.Typer(
    name="foredeck",
    help="Test infrastructure for open-source organisations.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("run")(run_command)
app.add_typer(config_app, name="config")
app.command("serve")(serve_command)
app.add_typer(jobs_app, name="jobs")
app.add_typer(util_app, name="util")


def main() -> None:
    try:
        app()
    except MissingExtra as exc:  # a feature of an extra that is not installed: one line
        sys.stderr.write(f"foredeck: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
