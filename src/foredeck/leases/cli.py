"""`foredeck lease ...`: acquire, heartbeat, release and list leases through a server's `/api`,
and run the janitor against the database and providers of a settings file.

`acquire` prints the lease as JSON (its `id` is what `heartbeat` and `release` take, its
`user_data` what the resource offers: a database URL, a kubeconfig). Exit codes: 0 done, 1 the
server refused (the message says why), 2 the server or database could not be reached.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, NoReturn

import httpx
import typer

DEFAULT_SERVER = "http://127.0.0.1:8888"
TIMEOUT = 30.0

lease_app = typer.Typer(
    name="lease",
    help="Leases of test resources: acquire, heartbeat, release, list; the janitor.",
    no_args_is_help=True,
    add_completion=False,
)

Server = Annotated[
    str, typer.Option(envvar="FOREDECK_SERVER", help="The foredeck server's base URL.")
]
Token = Annotated[
    str | None,
    typer.Option(envvar="FOREDECK_API_TOKEN", help="API token (writes).", show_default=False),
]


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"foredeck lease: {message}", err=True)
    raise typer.Exit(code)


def _request(
    server: str, token: str | None, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs.setdefault("timeout", TIMEOUT)
    try:
        with httpx.Client(base_url=server.rstrip("/"), headers=headers) as client:
            return client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        _fail(2, f"cannot reach foredeck at {server}: {exc or type(exc).__name__}")


def _call(server: str, token: str | None, method: str, path: str, **kwargs: Any) -> Any:
    return _body(_request(server, token, method, path, **kwargs))


def _body(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        _fail(2, f"{response.status_code}: the server's answer is not JSON")
    if response.status_code >= 400:
        detail = body.get("detail") if isinstance(body, dict) else body
        _fail(1, f"{response.status_code}: {detail}")
    return body


@lease_app.command()
def acquire(
    kind: Annotated[str, typer.Argument(metavar="TYPE", help="The resource type.")],
    owner: Annotated[str, typer.Option(help="Who holds it (a job, a person).")],
    ttl: Annotated[float, typer.Option(help="Seconds until it expires without a heartbeat.")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for a free resource.")] = 0.0,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Acquire a lease; prints it as JSON."""
    deadline = time.monotonic() + wait
    while True:  # the server waits at most 60 s per request
        left = min(max(0.0, deadline - time.monotonic()), 60.0)
        body = {"type": kind, "owner": owner, "ttl": ttl, "wait": left}
        response = _request(server, token, "POST", "/api/leases", json=body, timeout=left + TIMEOUT)
        if response.status_code != 409 or time.monotonic() >= deadline:
            break
    typer.echo(json.dumps(_body(response), indent=2))


@lease_app.command()
def heartbeat(
    lease_id: Annotated[str, typer.Argument(help="The lease's id.")],
    ttl: Annotated[float, typer.Option(help="Seconds from now until it expires.")],
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Keep a lease: it expires `ttl` seconds from now."""
    body = _call(server, token, "POST", f"/api/leases/{lease_id}/heartbeat", json={"ttl": ttl})
    typer.echo(body["expires_at"])


@lease_app.command()
def release(
    lease_id: Annotated[str, typer.Argument(help="The lease's id.")],
    clean: Annotated[bool, typer.Option(help="The resource needs no cleaning.")] = False,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Give a lease back (dirty, cleaned before its next lease, unless --clean)."""
    path = f"/api/leases/{lease_id}/release"
    body = _call(server, token, "POST", path, json={"dirty": not clean})
    typer.echo("released" if body["released"] else "not held any more (expired or released)")


@lease_app.command("list")
def list_resources(
    type: Annotated[str | None, typer.Option(help="Only this type.")] = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Resources, their states and holders."""
    rows = _call(server, None, "GET", "/api/leases", params={"type": type} if type else {})
    for row in rows:
        owner = row.get("owner") or ""
        typer.echo(f"{row['type']:<20} {row['name']:<45} {row['state']:<10} {owner}")


@lease_app.command()
def janitor(
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="Settings YAML (default: $FOREDECK_CONFIG)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Report what would be deleted only.")] = False,
    interval: Annotated[
        float | None, typer.Option(help="Run every this many seconds (default: once).")
    ] = None,
) -> None:
    """Reap expired leases, clean dirty resources and delete leaks, from a settings file."""
    from foredeck.db.migrate import DatabaseUnavailable, open_database
    from foredeck.leases.janitor import sweep
    from foredeck.leases.service import LeaseService
    from foredeck.settings import SettingsError, load_settings

    try:
        settings = load_settings(config)
        engine = open_database(settings.database_url)
    except (SettingsError, DatabaseUnavailable) as exc:
        _fail(2, str(exc))
    service = LeaseService(engine, settings.leases)
    try:
        service.sync()
        while True:
            if not dry_run:
                report = service.maintain()
                for name in report.reaped:
                    typer.echo(f"reaped: {name}: its lease expired")
                for name in report.deleted:
                    typer.echo(f"deleted: {name}: dirty dynamic resource")
                for name, why in report.failed.items():
                    typer.echo(f"failed: {name}: {why}")
                if report.purged:
                    n = report.purged
                    typer.echo(f"purged: {n} tombstones older than leases.tombstone_retention")
            for action in sweep(service, dry_run=dry_run):
                typer.echo(action.line())
            if interval is None:
                break
            time.sleep(interval)
    finally:
        engine.dispose()
