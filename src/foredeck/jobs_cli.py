"""`foredeck jobs ...`: list, show, follow, rerun and abort jobs through a server's `/api`.

The command speaks HTTP only (never to the database), so it works the same against a laptop's
`foredeck serve` and a shared installation. Exit codes: 0 done, 1 the server refused (the
message says why), 2 the server could not be reached or answered garbage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

DEFAULT_SERVER = "http://127.0.0.1:8888"
TIMEOUT = 30.0

jobs_app = typer.Typer(
    name="jobs",
    help="Jobs on a foredeck server: list, show, logs, rerun, abort.",
    no_args_is_help=True,
    add_completion=False,
)

STATE_STYLE = {
    "triggered": "cyan",
    "pending": "yellow",
    "success": "green",
    "failure": "red",
    "error": "red",
    "aborted": "magenta",
}


@dataclass
class Remote:
    server: str
    token: str | None
    program: str = "foredeck jobs"
    """How error messages start (`foredeck token` shares this client)."""

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            with httpx.Client(base_url=self.server, headers=headers, timeout=TIMEOUT) as client:
                yield client
        except httpx.TransportError as exc:
            why = exc or type(exc).__name__
            _fail(2, f"cannot reach foredeck at {self.server}: {why}", self.program)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        with self.client() as client:
            response = client.request(method, path, **kwargs)
            if response.status_code == 401:
                _fail(1, f"401: {_detail(response)}\n{self.token_hint()}", self.program)
            return _json(response, self.program)

    def token_hint(self) -> str:
        """The server's 401 message speaks HTTP; this says it in the command's terms."""
        if self.token is None:
            return "pass a token (yours, or api.token) with --token or FOREDECK_API_TOKEN"
        return "the server refused the token given (--token or FOREDECK_API_TOKEN)"


def _fail(code: int, message: str, program: str = "foredeck jobs") -> NoReturn:
    typer.echo(f"{program}: {message}", err=True)
    raise typer.Exit(code)


def _json(response: httpx.Response, program: str = "foredeck jobs") -> Any:
    if response.status_code >= 400:
        _fail(1, f"{response.status_code}: {_detail(response)}", program)
    try:
        return response.json()
    except ValueError:
        _fail(2, f"{response.request.url} did not answer JSON (is it a foredeck server?)", program)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI's validation errors
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail
        )
    return str(detail)


def _remote(ctx: typer.Context) -> Remote:
    remote = ctx.obj
    assert isinstance(remote, Remote)
    return remote


@jobs_app.callback()
def jobs_group(
    ctx: typer.Context,
    server: Annotated[
        str, typer.Option(envvar="FOREDECK_SERVER", help="The foredeck server's base URL.")
    ] = DEFAULT_SERVER,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="FOREDECK_API_TOKEN", help="API token (rerun, abort).", show_default=False
        ),
    ] = None,
) -> None:
    """Jobs on a foredeck server: list, show, logs, rerun, abort."""
    ctx.obj = Remote(server.rstrip("/"), token or None)


class Output(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"


def _console() -> Console:
    """A terminal gets tables fitted to its width; a pipe or a file gets every cell whole
    (rich would cut them at 80 columns: `TO` for `TOOK`)."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=1_000_000)
    return console


def _when(value: str | None, *, short: bool = False) -> str:
    """A UTC timestamp from the API, as people read it (`short`: for table columns)."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value)
    return moment.strftime("%m-%d %H:%M:%S") if short else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(job: dict[str, Any]) -> str:
    if not job.get("started_at"):
        return ""
    start = datetime.fromisoformat(job["started_at"])
    end = datetime.fromisoformat(job["finished_at"]) if job.get("finished_at") else None
    if end is None:
        return "running"
    seconds = int((end - start).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _state(state: str) -> str:
    return f"[{STATE_STYLE.get(state, 'white')}]{state}[/]"


@jobs_app.command("list")
def list_command(
    ctx: typer.Context,
    repo: Annotated[str | None, typer.Option(help="org/repo")] = None,
    job: Annotated[str | None, typer.Option(help="Job name.")] = None,
    type: Annotated[
        str | None, typer.Option(help="presubmit, postsubmit, periodic, batch.")
    ] = None,
    state: Annotated[list[str] | None, typer.Option(help="State (repeatable).")] = None,
    pr: Annotated[int | None, typer.Option(help="Pull request number.")] = None,
    author: Annotated[str | None, typer.Option(help="Pull request author.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Jobs per page.")] = 50,
    after: Annotated[int | None, typer.Option(help="Start after this job id.")] = None,
    output: Annotated[
        Output, typer.Option("--output", "-o", help="table, wide (more columns) or json.")
    ] = Output.table,
) -> None:
    """Jobs, newest first."""
    params: dict[str, Any] = {
        k: v
        for k, v in {
            "repo": repo,
            "job": job,
            "type": type,
            "state": state or None,
            "pr": pr,
            "author": author,
            "limit": limit,
            "after": after,
        }.items()
        if v is not None
    }
    page = _remote(ctx).call("GET", "/api/jobs", params=params)
    if output is Output.json:
        typer.echo(json.dumps(page, indent=2))
        return
    wide = output is Output.wide
    columns = ["ID", "NAME", "TYPE", "STATE", "REPO", "PR", "AUTHOR", "CREATED", "TOOK"]
    if wide:
        columns += ["BUILD", "DESCRIPTION"]
    table = Table(box=None, header_style="bold", pad_edge=False)
    longest = max((len(row["name"]) for row in page["jobs"]), default=4)
    for column in columns:
        # Names are what people scan for: keep them whole (up to 40 characters) on narrow
        # terminals and let the other columns give way.
        width = min(longest, 40) if column == "NAME" else None
        table.add_column(column, no_wrap=column not in ("NAME", "DESCRIPTION"), min_width=width)
    for row in page["jobs"]:
        cells = [
            str(row["id"]),
            row["name"],
            row["type"],
            _state(row["state"]),
            f"{row['org']}/{row['repo']}" if row.get("org") else "",
            str(row["pull_number"]) if row.get("pull_number") is not None else "",
            ",".join(row.get("authors", [])),
            _when(row["created_at"], short=True),
            _duration(row),
        ]
        if wide:
            cells += [row.get("build_id") or "", row.get("description") or ""]
        table.add_row(*cells)
    console = _console()
    if not page["jobs"]:
        console.print("no jobs")
        return
    console.print(table)
    if page.get("next") is not None:
        console.print(f"more: --after {page['next']}", style="dim")


@jobs_app.command("show")
def show_command(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(metavar="ID")],
    output: Annotated[
        Output, typer.Option("--output", "-o", help="table or json (wide: as table).")
    ] = Output.table,
) -> None:
    """One job: its refs, state, times and links."""
    job = _remote(ctx).call("GET", f"/api/jobs/{job_id}")
    if output is Output.json:
        typer.echo(json.dumps(job, indent=2))
        return
    _print_job(job)


def _print_job(job: dict[str, Any]) -> None:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    refs = job.get("refs") or {}
    pulls = ", ".join(
        f"#{p.get('number')} {p.get('sha', '')[:12]} by {p.get('author', '?')}"
        for p in job.get("pulls", [])
    )
    rows = [
        ("id", str(job["id"])),
        ("name", job["name"]),
        ("type", job["type"]),
        ("state", _state(job["state"])),
        ("repo", f"{refs.get('org')}/{refs.get('repo')}" if refs else ""),
        ("base", f"{refs.get('base_ref', '')} {refs.get('base_sha', '')[:12]}".strip()),
        ("pulls", pulls),
        ("created", _when(job.get("created_at"))),
        ("started", _when(job.get("started_at"))),
        ("finished", _when(job.get("finished_at"))),
        ("took", _duration(job)),
        ("build", job.get("build_id") or ""),
        ("description", job.get("description") or ""),
        ("url", job.get("url") or ""),
        ("reason", job.get("trigger_reason") or ""),
        ("cause", job.get("cause") or ""),
    ]
    for key, value in rows:
        if value:
            table.add_row(key, value)
    _console().print(table)


@jobs_app.command("logs")
def logs_command(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(metavar="ID")],
    tail: Annotated[int | None, typer.Option(min=0, help="Only the last N lines.")] = None,
) -> None:
    """Print the job's build-log.txt."""
    remote = _remote(ctx)
    params = {"tail": tail} if tail is not None else {}
    with (
        remote.client() as client,
        client.stream("GET", f"/api/jobs/{job_id}/log", params=params) as response,
    ):
        if response.status_code >= 400:
            response.read()
            _fail(1, f"{response.status_code}: {_detail(response)}")
        out = sys.stdout.buffer
        for chunk in response.iter_bytes():
            out.write(chunk)
        out.flush()
        if response.headers.get("x-log-truncated") == "true" and tail is None:
            typer.echo(
                f"foredeck jobs: log cut at {response.num_bytes_downloaded} of "
                f"{response.headers.get('x-log-size')} bytes; use --tail",
                err=True,
            )


@jobs_app.command("rerun")
def rerun_command(ctx: typer.Context, job_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Run the job again (same refs and config) as a new job."""
    job = _remote(ctx).call("POST", f"/api/jobs/{job_id}/rerun")
    typer.echo(f"job {job_id} rerun as job {job['id']} ({job['state']})")


@jobs_app.command("abort")
def abort_command(ctx: typer.Context, job_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Abort a triggered or running job."""
    job = _remote(ctx).call("POST", f"/api/jobs/{job_id}/abort")
    typer.echo(f"job {job['id']} {job['state']}")
