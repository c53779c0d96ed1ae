"""`foredeck serve`: run foredeck (or one role of it) in this process until a signal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from foredeck.logs import configure_logging
from foredeck.serve.roles import ROLES
from foredeck.settings import SettingsError, load_settings


def serve_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Settings YAML (default: $FOREDECK_CONFIG)."),
    ] = None,
    role: Annotated[
        str,
        typer.Option(help=f"What this process runs: {', '.join(ROLES)}."),
    ] = "all",
    host: Annotated[str | None, typer.Option(help="Listen address (default: hook.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default: hook.port).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the hook, event worker, controller, reporter, periodics, sinker and API."""
    if role not in ROLES:
        raise typer.BadParameter(f"expected one of {', '.join(ROLES)}", param_hint="--role")
    configure_logging(log_level)
    from foredeck.serve.run import serve  # not needed by `foredeck run` and `foredeck config`

    try:
        settings = load_settings(config)
        serve(settings, role, host=host, port=port, log_level=log_level.lower())
    except start_errors() as exc:
        typer.echo(f"foredeck serve: {exc}", err=True)
        raise typer.Exit(2) from None


def start_errors() -> tuple[type[Exception], ...]:
    """What stops a start with one line (and status 2) instead of a traceback."""
    from foredeck.config import JobConfigError
    from foredeck.db.migrate import DatabaseUnavailable
    from foredeck.hook.plugins import PluginError
    from foredeck.serve.worker_process import WorkerProcessError
    from foredeck.web.server import ListenError

    return (
        SettingsError,
        JobConfigError,
        PluginError,
        WorkerProcessError,
        ListenError,
        DatabaseUnavailable,
        ValueError,
    )


__all__ = ["serve_command", "start_errors"]
