"""`foredeck run`: run a pipeline on this machine, like `act` does for GitHub Actions.

Exit codes: 0 the run succeeded, 1 a task failed or timed out, 2 invalid input (one line,
`file:line: message`, no traceback), 130 cancelled. SIGINT and SIGTERM cancel gracefully:
running steps are stopped, finally tasks run, `finished.json` says ABORTED; a second signal
stops the finally tasks too.

The `foredeck` command imports this module on every start, so the loader, the executor and
rich are imported only once a run is really going to happen.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from foredeck.execute.runstate import RunResult
    from foredeck.pipeline.model import PipelineRunSpec

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_CANCELLED = 130
RUNS_DIR = Path(".foredeck") / "runs"
T = TypeVar("T")


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
) -> None:
    """Run a pipeline locally: each step is a process on this machine (images are not used)."""
    if emit is not None:
        raise typer.Exit(emit_manifest(files, param or [], emit))
    try:
        limit = parse_size(max_output)
    except ValueError as exc:
        _error(f"--max-output: {exc}")
        raise typer.Exit(EXIT_INVALID) from None
    raise typer.Exit(run(files, param or [], out, parallel, limit))


_UNITS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}


def parse_size(text: str) -> int:
    """`1048576`, `500M`, `2G`, `1GiB`, `10KB` as bytes (`Ki`/`Mi`/`Gi`/`Ti`: powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(i?)B?\s*", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"{text!r} is not a size (bytes, or a number with K, M, G, T, KiB, ...)")
    number, unit, binary = match.groups()
    if unit and binary:
        return int(number) * int(1024 ** ("KMGT".index(unit.upper()) + 1))
    return int(number) * _UNITS[unit.upper()]


def emit_manifest(files: list[Path], params: list[str], fmt: str) -> int:
    """`--emit`: the manifest on stdout, exit 0; invalid input or format, exit 2."""
    if fmt not in ("argo", "tekton"):
        _error(f"--emit {fmt!r}: expected 'argo' or 'tekton'")
        return EXIT_INVALID

    def emit_it(spec: PipelineRunSpec) -> str:
        from foredeck.pipeline.emit import emit

        return emit(spec, "argo" if fmt == "argo" else "tekton")

    text = _load(files, params, emit_it)
    if text is None:
        return EXIT_INVALID
    sys.stdout.write(text)
    return EXIT_OK


def _load(files: list[Path], params: list[str], then: Callable[[PipelineRunSpec], T]) -> T | None:
    """`then(the loaded run)`; None (the error said in one line) for invalid input."""
    from foredeck.types import PipelineError

    try:
        from foredeck.pipeline.load import load_run, parse_param_args

        return then(load_run(files, parse_param_args(params)))
    except PipelineError as exc:
        _error(str(exc))
    except OSError as exc:
        _error(f"{exc.filename or files[0]}: {exc.strerror or exc}")
    return None


def _error(message: str) -> None:
    sys.stderr.write(message.replace("\n", " ") + "\n")


def run(
    files: list[Path],
    params: list[str],
    out: Path | None,
    parallel: int | None,
    max_output: int = 0,
) -> int:
    """The command without typer: returns the exit code."""
    import asyncio
    import os

    spec = _load(files, params, lambda loaded: loaded)
    if spec is None:
        return EXIT_INVALID
    from foredeck.execute.local import default_run_name

    if not spec.name or spec.name == spec.pipeline.name:
        # No PipelineRun name (the loader then uses the pipeline's): one directory per run.
        spec.name = default_run_name(spec.pipeline.name)
    out_dir = out if out is not None else RUNS_DIR / spec.name
    return asyncio.run(_run(spec, out_dir, parallel or os.cpu_count() or 1, max_output))


async def _run(spec: PipelineRunSpec, out_dir: Path, parallel: int, max_output: int) -> int:
    import asyncio
    import signal

    from foredeck.execute.local import run_pipeline
    from foredeck.execute.logs import OutputLimit
    from foredeck.execute.progress import Progress
    from foredeck.execute.workspace import OutputDirError
    from foredeck.types import PipelineError

    loop = asyncio.get_running_loop()
    cancel = asyncio.Event()
    main = asyncio.current_task()
    progress = Progress(spec, out_dir)
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        name = signal.Signals(signum).name
        if signals == 1:
            progress.note(f"{name}: cancelling; finally tasks still run ({name} again to stop)")
            cancel.set()
        elif main is not None:
            progress.note(f"{name}: stopping finally tasks")
            main.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    result: RunResult | None = None
    progress.start()
    try:
        result = await run_pipeline(
            spec,
            out_dir,
            parallel=parallel,
            on_event=progress.on_event,
            cancel=cancel,
            max_output=OutputLimit(max_output, "--max-output") if max_output else None,
        )
    except asyncio.CancelledError:
        pass  # cancelled twice: files are written, the summary comes from pipeline-run.json
    except (PipelineError, OutputDirError) as exc:
        progress.stop()
        _error(str(exc))
        return EXIT_INVALID
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        progress.stop()
    progress.summary(result)
    if result is None or result.status == "Cancelled":
        return EXIT_CANCELLED
    return EXIT_OK if result.passed else EXIT_FAILED
