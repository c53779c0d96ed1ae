"""`foredeck run`'s options, for Typer: `foredeck --help`, `foredeck run --help`, and every
command line the fast reader (`execute.run_args`) leaves to Typer. The command is in
`execute.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from foredeck.execute.cli import RunArgs, execute

# The options of `foredeck run` added for a run in a repository and a hand-applied manifest.
_Workspace = Annotated[
    list[str] | None,
    typer.Option(
        metavar="NAME=PATH",
        help="Bind a pipeline workspace to the directory PATH itself (steps may write there). "
        "Repeatable. In a git repository the source workspace is a copy of the working tree "
        "unless bound here.",
        show_default=False,
    ),
]
_Decorate = Annotated[
    bool,
    typer.Option(
        "--decorate",
        help="With --emit: add what the controller adds on a cluster (checkout of --repo at "
        "--ref, Prow's variables, $ARTIFACTS upload with --upload).",
    ),
]
_Repo = Annotated[
    str | None, typer.Option(metavar="ORG/REPO", help="With --decorate: the repository.")
]
_Ref = Annotated[str | None, typer.Option(metavar="REF", help="With --decorate: branch or tag.")]
_CloneUri = Annotated[
    str | None, typer.Option(metavar="URI", help="With --decorate: clone from here, not GitHub.")
]
_Upload = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="With --decorate: s3:// or gs:// URL; each task's $ARTIFACTS goes to "
        "URL/artifacts/<task>/.",
    ),
]
_UtilityImage = Annotated[
    str | None,
    typer.Option(metavar="IMAGE", help="With --decorate: the image with foredeck and git."),
]
_Runtime = Annotated[
    str | None,
    typer.Option(
        metavar="host|podman|auto",
        help="Where steps that name an image run: host processes (default), their image with "
        "podman, or auto (podman when it has the image). Default: containers.runtime of the "
        "settings, else host.",
        show_default=False,
    ),
]


def run_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="PIPELINE.yaml...",
            help="Tekton or Argo YAML files (Tasks, Pipeline, PipelineRun) or directories.",
            show_default=False,
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="NAME=VALUE",
            help="A pipeline param; arrays and objects as JSON. Repeatable.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (Prow layout). Default: ./.foredeck/runs/<run>."),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(min=1, help="Tasks running at once. Default: the number of CPUs."),
    ] = None,
    emit: Annotated[
        str | None,
        typer.Option(
            metavar="argo|tekton",
            help="Print the run as an Argo Workflow or a Tekton PipelineRun; do not run it.",
            show_default=False,
        ),
    ] = None,
    max_output: Annotated[
        str,
        typer.Option(
            metavar="SIZE",
            help="Step output the build log keeps at most (bytes, or 500M, 2G, 1GiB); 0: all.",
        ),
    ] = "1GiB",
    workspace: _Workspace = None,
    decorate: _Decorate = False,
    repo: _Repo = None,
    ref: _Ref = None,
    clone_uri: _CloneUri = None,
    upload: _Upload = None,
    utility_image: _UtilityImage = None,
    runtime: _Runtime = None,
) -> None:
    """Run a pipeline locally: each step is a process on this machine, or a container of its
    image with --runtime podman."""
    args = RunArgs.of(
        files=files,
        param=param,
        out=out,
        parallel=parallel,
        emit=emit,
        max_output=max_output,
        workspace=workspace,
        decorate=decorate,
        repo=repo,
        ref=ref,
        clone_uri=clone_uri,
        upload=upload,
        utility_image=utility_image,
        runtime=runtime,
    )
    raise typer.Exit(execute(args))
