"""`foredeck token create|list|revoke`: personal API tokens through a server's `/api/tokens`.

Like `foredeck jobs`, it speaks HTTP only and authenticates with `--token` /
`FOREDECK_API_TOKEN` (a personal token, or the bootstrap `api.token` to make someone's first
token). The new token is printed once; the server keeps only its hash.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from foredeck.jobs_cli import Remote

token_app = typer.Typer(
    name="token",
    help="Personal API tokens: create, list, revoke.",
    no_args_is_help=True,
    add_completion=False,
)

ROLES = ("viewer", "editor", "admin")


def _remote(ctx: typer.Context) -> Remote:
    remote = ctx.obj
    assert isinstance(remote, Remote)
    return remote


@token_app.callback()
def token_group(
    ctx: typer.Context,
    server: Annotated[
        str, typer.Option(envvar="FOREDECK_SERVER", help="The foredeck server's base URL.")
    ] = "http://127.0.0.1:8888",
    token: Annotated[
        str | None,
        typer.Option(
            envvar="FOREDECK_API_TOKEN",
            help="The token to act with (yours, or api.token).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Personal API tokens: create, list, revoke."""
    ctx.obj = Remote(server.rstrip("/"), token or None, "foredeck token")


@token_app.command("create")
def create_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the token is for.")],
    role: Annotated[str, typer.Option(help="viewer, editor or admin.")] = "viewer",
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Days until it expires (30, or less when your token expires sooner).",
            show_default=False,
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="For another user (admins).", show_default=False)
    ] = None,
    team: Annotated[
        list[str] | None, typer.Option(help="The user's GitHub team org/team (admins).")
    ] = None,
    group: Annotated[list[str] | None, typer.Option(help="The user's OIDC group (admins).")] = None,
) -> None:
    """Make a token and print it (shown this once)."""
    if role not in ROLES:
        raise typer.BadParameter(f"{role!r} is not one of {', '.join(ROLES)}", param_hint="--role")
    body: dict[str, object] = {"name": name, "role": role}
    if days is not None:
        body["days"] = days
    if user is not None:
        body["user"] = user
    if team:
        body["teams"] = team
    if group:
        body["groups"] = group
    made = _remote(ctx).call("POST", "/api/tokens", json=body)
    typer.echo(made["token"])
    typer.echo(
        f"token {made['id']} for {made['user']} ({made['role']}), expires {made['expires_at']}; "
        "it is not shown again",
        err=True,
    )


@token_app.command("list")
def list_command(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(help="Another user's (admins).")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Everyone's (admins).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of lines.")] = False,
) -> None:
    """Your tokens (never the tokens themselves: their first characters)."""
    params: dict[str, str] = {}
    if user is not None:
        params["user"] = user
    if all_users:
        params["all"] = "true"
    rows = _remote(ctx).call("GET", "/api/tokens", params=params)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no tokens")
    for row in rows:
        state = "revoked" if row["revoked_at"] else f"expires {row['expires_at']}"
        typer.echo(
            f"{row['id']}\t{row['hint']}...\t{row['user']}\t{row['role']}\t{row['name']}\t{state}"
        )


@token_app.command("revoke")
def revoke_command(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(metavar="ID")]
) -> None:
    """Revoke a token: it stops working at once."""
    row = _remote(ctx).call("DELETE", f"/api/tokens/{token_id}")
    typer.echo(f"token {row['id']} ({row['name']}) of {row['user']} revoked")
