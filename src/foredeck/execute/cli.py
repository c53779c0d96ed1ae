"""`foredeck run`: run a pipeline on this machine, like `act` does for GitHub Actions.

Exit codes: 0 the run succeeded, 1 a task failed or timed out, 2 invalid input (one line,
`file:line: message`, no traceback), 130 cancelled. SIGINT and SIGTERM cancel gracefully:
running steps are stopped, finally tasks run, `finished.json` says ABORTED; a second signal
stops the finally tasks too.

This module is the command without its parsers (Typer's in `execute.cli_options`, the fast
one in `execute.run_args`): it imports neither Typer nor pydantic, and the loader, the
executor and rich only once a run is really going to happen.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from foredeck.execute.containers import ContainerRun
    from foredeck.execute.decorated_emit import HandDecoration
    from foredeck.execute.loop_thread import SignalRelay
    from foredeck.execute.resource_tasks import ResourceRunner
    from foredeck.execute.runstate import RunResult
    from foredeck.execute.workspace import WorkspaceBinding
    from foredeck.pipeline.model import PipelineRunSpec
    from foredeck.settings import ImageSettings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_CANCELLED = 130
RUNS_DIR = Path(".foredeck") / "runs"
T = TypeVar("T")


@dataclass
class RunArgs:
    """`foredeck run`'s arguments, whichever parser read them (`execute.cli`, `run_args`)."""

    files: list[Path]
    param: list[str] = field(default_factory=list)
    out: Path | None = None
    parallel: int | None = None
    emit: str | None = None
    max_output: str = "1GiB"
    workspace: list[str] = field(default_factory=list)
    decorate: bool = False
    repo: str | None = None
    ref: str | None = None
    clone_uri: str | None = None
    upload: str | None = None
    utility_image: str | None = None
    runtime: str | None = None

    @classmethod
    def of(cls, **options: Any) -> RunArgs:
        """From a parser's values by option name (a repeatable option not given may be None)."""
        for name in ("param", "workspace"):
            options[name] = list(options.get(name) or [])
        return cls(**options)


def execute(args: RunArgs) -> int:
    """The command: returns the exit code."""
    if args.emit is not None:
        decoration = None
        if args.decorate:
            from foredeck.execute.decorated_emit import HandDecoration

            decoration = HandDecoration(
                args.repo or "", args.ref or "", args.clone_uri, args.upload, args.utility_image
            )
        elif args.repo or args.ref or args.clone_uri or args.upload or args.utility_image:
            _error("--repo, --ref, --clone-uri, --upload and --utility-image need --decorate")
            return EXIT_INVALID
        return emit_manifest(args.files, args.param, args.emit, decoration)
    if args.decorate:
        _error("--decorate needs --emit argo|tekton (a local run sees the working tree)")
        return EXIT_INVALID
    try:
        limit = parse_size(args.max_output)
    except ValueError as exc:
        _error(f"--max-output: {exc}")
        return EXIT_INVALID
    return run(args.files, args.param, args.out, args.parallel, limit, args.workspace, args.runtime)


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


def emit_manifest(
    files: list[Path], params: list[str], fmt: str, decoration: HandDecoration | None = None
) -> int:
    """`--emit`: the manifest on stdout, exit 0; invalid input or format, exit 2."""
    if fmt not in ("argo", "tekton"):
        _error(f"--emit {fmt!r}: expected 'argo' or 'tekton'")
        return EXIT_INVALID
    engine: Literal["argo", "tekton"] = "argo" if fmt == "argo" else "tekton"

    def emit_it(spec: PipelineRunSpec) -> str:
        from foredeck.pipeline.emit import manifest, with_objects
        from foredeck.pipeline.emit_names import name_from_documents

        spec.name = name_from_documents(spec, _documents(files))
        if decoration is None:
            return with_objects(spec, manifest(spec, engine))
        from foredeck.execute.decorated_emit import decorated_manifest

        doc, why = decorated_manifest(spec, engine, decoration)
        if why:
            _error(why)
        return with_objects(spec, doc)

    try:
        text = _load(files, params, emit_it)
    except ValueError as exc:  # DecorateError
        _error(str(exc))
        return EXIT_INVALID
    if text is None:
        return EXIT_INVALID
    sys.stdout.write(text)
    return EXIT_OK


def _documents(files: list[Path]) -> list[object]:
    """The YAML documents of `files` (directories: their `.yaml`/`.yml` files), as data."""
    from foredeck.yamlsrc import load_file

    paths: list[Path] = []
    for path in files:
        found = sorted(p for p in path.glob("*") if p.suffix in (".yaml", ".yml"))
        paths.extend(found if path.is_dir() else [path])
    return [doc.data for path in paths for doc in load_file(path)]


def _load(files: list[Path], params: list[str], then: Callable[[PipelineRunSpec], T]) -> T | None:
    """`then(the loaded run)`; None (the error said in one line) for invalid input."""
    from foredeck.types import PipelineError

    try:
        from foredeck.pipeline.load import load_run, parse_param_args

        return then(load_run(files, parse_param_args(params)))
    except PipelineError as exc:
        from foredeck.pipeline.errors import each_error

        for error in each_error(exc):  # every problem of the files, one line each
            _error(str(error))
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
    workspaces: list[str] | None = None,
    runtime: str | None = None,
) -> int:
    """The command without typer: returns the exit code."""
    import gc
    import os

    spec = _load(files, params, lambda loaded: loaded)
    if spec is None:
        return EXIT_INVALID
    from foredeck.execute.local import default_run_name

    if not spec.name or spec.name == spec.pipeline.name or spec.name.endswith(("-", ".")):
        # No PipelineRun name (the loader then uses the pipeline's) or a generateName.
        spec.name = default_run_name(spec.name.rstrip("-.") or spec.pipeline.name)
    out_dir = out if out is not None else RUNS_DIR / spec.name
    found = _bindings(spec, out_dir, workspaces or [])
    if found is None:
        return EXIT_INVALID
    bindings, source = found
    from foredeck.execute.run_containers import container_run

    try:
        containers = container_run(runtime, source)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_INVALID
    jobs = parallel or os.cpu_count() or 1
    # What is alive now (the modules, the loaded pipeline) lives as long as this process: frozen,
    # the cyclic collector does not walk it again, neither during the run nor at exit (~8% of the
    # CPU of a short run). This function runs in `foredeck run`'s own process.
    gc.freeze()
    from foredeck.execute.loop_thread import run_in_thread

    return run_in_thread(
        lambda relay: _run(spec, out_dir, jobs, max_output, bindings, relay, containers)
    )


def _bindings(
    spec: PipelineRunSpec, out_dir: Path, texts: list[str]
) -> tuple[dict[str, WorkspaceBinding], Path | None] | None:
    """`--workspace` bindings plus the repository's working tree as the source workspace, and
    the source's directory; steps that name no `workingDir` start in the source (as in a CI
    checkout)."""
    import os

    from foredeck.execute.checkout_workspace import (
        CheckoutError,
        default_working_dir,
        parse_bindings,
        repository_bindings,
    )
    from foredeck.execute.workspace import RunLayout

    try:
        explicit = parse_bindings(texts, spec.pipeline)
        bindings, source = repository_bindings(spec, Path.cwd(), out_dir, explicit)
    except CheckoutError as exc:
        _error(str(exc))
        return None
    if source is None:
        return dict(bindings), None
    layout = RunLayout(Path(os.path.abspath(out_dir)))
    layout.bind(bindings)
    directory = layout.workspace(source)
    default_working_dir(spec, directory)
    return dict(bindings), directory


def _image_settings(spec: PipelineRunSpec) -> ImageSettings | None:
    """`images:` of the settings (`$FOREDECK_CONFIG`, `FOREDECK_IMAGES__*`) when the pipeline
    builds an image; read only then, so that other runs never depend on a settings file."""
    pipeline = spec.pipeline
    specs = [pipeline.spec_of(t) for t in pipeline.all_tasks() if t.graph_ref is None]
    if not any(s.build is not None for s in [*specs, *pipeline.task_library.values()]):
        return None
    from foredeck.settings import SettingsError, load_settings
    from foredeck.types import PipelineError, Source

    try:
        return load_settings().images
    except SettingsError as exc:
        raise PipelineError(Source("settings", 0), f"images settings: {exc}") from None


def _resource_runner(spec: PipelineRunSpec) -> ResourceRunner | None:
    """The cluster of the `kube:` settings when the pipeline has `resource` tasks and one is
    configured (a kubeconfig file, `$KUBECONFIG`, in-cluster or EKS); None otherwise, which
    the run refuses at start when it needs one."""
    import os

    from foredeck.execute.resource_tasks import ResourceRunner, uses_resources

    if not uses_resources(spec.pipeline):
        return None
    from foredeck.execute.kube.client import KubeTarget
    from foredeck.settings import SettingsError, load_settings
    from foredeck.types import PipelineError, Source

    try:
        kube = load_settings().kube
    except SettingsError as exc:
        raise PipelineError(Source("settings", 0), f"kube settings: {exc}") from None
    paths = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    found = any(os.path.exists(path) for path in paths.split(os.pathsep) if path)
    if kube.auth == "kubeconfig" and not kube.kubeconfig and not found:
        return None
    fields = ("namespace", "auth", "kubeconfig", "context", "cluster", "region", "aws_profile")
    return ResourceRunner(KubeTarget(**{name: getattr(kube, name) for name in fields}))


async def _run(
    spec: PipelineRunSpec,
    out_dir: Path,
    parallel: int,
    max_output: int,
    workspaces: dict[str, WorkspaceBinding],
    relay: SignalRelay,
    containers: ContainerRun | None = None,
) -> int:
    import asyncio
    import signal

    from foredeck.execute.checkout_workspace import CheckoutError, WorkingTreeCopy
    from foredeck.execute.local import run_pipeline
    from foredeck.execute.logs import OutputLimit
    from foredeck.execute.progress import Progress
    from foredeck.execute.workspace import OutputDirError
    from foredeck.types import PipelineError

    cancel = asyncio.Event()
    main = asyncio.current_task()
    progress = Progress(spec, out_dir)
    for binding in workspaces.values():
        if isinstance(binding, WorkingTreeCopy):
            binding.on_done = progress.note
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

    relay.listen(on_signal)
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
            workspaces=workspaces,
            containers=containers,
            images=_image_settings(spec),
            resources=_resource_runner(spec),
        )
    except asyncio.CancelledError:
        pass  # cancelled twice: files are written, the summary comes from pipeline-run.json
    except (PipelineError, OutputDirError, CheckoutError) as exc:
        progress.stop()
        _error(str(exc))
        return EXIT_INVALID
    finally:
        relay.stop()
        progress.stop()
    progress.summary(result)
    if result is None or result.status == "Cancelled":
        return EXIT_CANCELLED
    return EXIT_OK if result.passed else EXIT_FAILED
