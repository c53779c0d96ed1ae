"""`foredeck util`: the commands decorated pods run (see `utility.py`).

They run in the foredeck image before and after a remote task's steps, like Prow's
`clonerefs` and `sidecar`; arguments come as argv (the refs as one JSON argument), never
through a shell. Messages go to stderr, so they end up in the task's log.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

util_app = typer.Typer(
    help="Utilities run inside remote (Argo/Tekton) pods: checkout and artifact upload.",
    no_args_is_help=True,
)


@util_app.command("clonerefs")
def clonerefs_command(
    refs: Annotated[str, typer.Option(help="Prow refs as JSON: one object or a list.")],
    dest: Annotated[Path, typer.Option(help="Base directory of the checkouts.")],
    records: Annotated[
        Path | None, typer.Option(help="Write Prow's clone-records.json here.")
    ] = None,
) -> None:
    """Check refs out under DEST/<path_alias or org/repo>, merging their pulls."""
    from foredeck.execute.kube.utility import clonerefs

    raise typer.Exit(clonerefs(refs, dest, records, sys.stderr))


@util_app.command("upload")
def upload_command(
    dir: Annotated[Path, typer.Option(help="The directory to upload ($ARTIFACTS).")],
    to: Annotated[str, typer.Option(help="Store URL of the destination directory.")],
    exit_codes: Annotated[
        Path | None,
        typer.Option(help="Tekton's step directory: exit with the first failing step's code."),
    ] = None,
) -> None:
    """Upload DIR to the artifact store URL TO (symlinks are skipped)."""
    from foredeck.execute.kube.utility import upload

    raise typer.Exit(upload(dir, to, exit_codes, sys.stderr))
