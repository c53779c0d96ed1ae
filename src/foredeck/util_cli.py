"""`foredeck util`: the commands decorated pods run (see `foredeck.execute.kube.utility`).

They run in the foredeck image before and after a remote task's steps, like Prow's
`clonerefs` and `sidecar`; arguments come as argv (the refs as one JSON argument), never
through a shell. Messages go to stderr, so they end up in the task's log. A composition root:
`clonerefs` joins the executor's refs argument to the SCM's checkout, which do not know each
other.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Annotated, TextIO

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


def clonerefs(refs_json: str, dest: Path, records: Path | None, out: TextIO) -> int:
    """Check the refs out under `dest`; 0, or 1 with the reason on `out`."""
    from foredeck.execute.kube.utility import UtilityError, parse_refs
    from foredeck.scm.git import CheckoutError, clone_refs

    try:
        refs = parse_refs(refs_json)
    except UtilityError as exc:
        print(f"clonerefs: {exc}", file=out)
        return 2
    with tempfile.TemporaryDirectory(prefix="foredeck-mirrors-") as mirrors:
        try:
            done = asyncio.run(
                clone_refs(refs, dest, mirror_root=Path(mirrors), records_path=records)
            )
        except CheckoutError as exc:
            print(f"clonerefs: checkout failed: {exc.reason}", file=out)
            return 1
        except ValueError as exc:
            print(f"clonerefs: {exc}", file=out)
            return 1
    for record in done:
        print(f"clonerefs: {record.refs.org}/{record.refs.repo} at {record.final_sha}", file=out)
    return 0
