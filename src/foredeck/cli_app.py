"""The `foredeck` command's Typer app. Each component contributes its commands from its own module.

A command's module is imported only when that command runs (or `--help` lists them all): the
server's, the job config's and the API client's modules (pydantic models, SQLAlchemy, httpx, ...)
cost hundreds of milliseconds that another command does not use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Command  # the Click that this Typer vendors


def _run() -> Command:
    from foredeck.execute.cli_options import run_command

    return _single("run", run_command)


def _serve() -> Command:
    from foredeck.serve.cli import serve_command

    return _single("serve", serve_command)


def _config() -> Command:
    from foredeck.config.cli import config_app

    return _group("config", config_app)


def _jobs() -> Command:
    from foredeck.jobs_cli import jobs_app

    return _group("jobs", jobs_app)


def _token() -> Command:
    from foredeck.token_cli import token_app

    return _group("token", token_app)


def _access() -> Command:
    from foredeck.access.cli import access_app

    return _group("access", access_app)


def _lease() -> Command:
    from foredeck.leases.cli import lease_app

    return _group("lease", lease_app)


def _bump() -> Command:
    from foredeck.bump_cli import bump_command

    return _single("bump", bump_command)


def _util() -> Command:
    from foredeck.util_cli import util_app

    return _group("util", util_app)


COMMANDS: dict[str, Callable[[], Command]] = {
    "run": _run,
    "serve": _serve,
    "config": _config,
    "jobs": _jobs,
    "token": _token,
    "access": _access,
    "lease": _lease,
    "bump": _bump,
    "util": _util,
}
"""The subcommands in the order `--help` lists them, each built on first use."""


def _single(name: str, callback: Callable[..., Any]) -> Command:
    one = typer.Typer(add_completion=False)
    one.command(name)(callback)
    return typer.main.get_command(one)


def _group(name: str, sub: typer.Typer) -> Command:
    group = typer.main.get_group(sub)
    group.name = name
    return group


class LazyCommands(MutableMapping[str, "Command"]):
    """The group's commands by name: the names are known up front, a command's module is
    imported when the command is looked up (`Group.get_command` uses `commands.get`)."""

    def __init__(self, loaders: dict[str, Callable[[], Command]]) -> None:
        self._loaders = dict(loaders)
        self._loaded: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._loaded:
            self._loaded[name] = self._loaders[name]()
        return self._loaded[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._loaders.setdefault(name, lambda: command)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaders[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)


class LazyGroup(TyperGroup):
    """The top-level group, whose subcommands are `COMMANDS`."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(COMMANDS)


app = typer.Typer(
    name="foredeck",
    help="Test infrastructure for open-source organisations.",
    no_args_is_help=True,
    add_completion=False,
    cls=LazyGroup,
)


@app.callback()
def _top() -> None:
    """Makes `app` a group although its commands are not registered with Typer."""
