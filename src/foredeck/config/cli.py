"""`foredeck config ...`: check Prow job config before it is deployed.

`check` prints every problem in one run, one per line as `file:line: job NAME: message`, so that
an editor or CI log can jump to each; it never stops at the first error. The pipeline of a job
with `agent: argo|tekton` is compiled for that engine (inline pipelines always; the pipeline
files of an `--in-repo` checkout too), so that what the engine cannot express is found here.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from foredeck.config.inrepo import IN_REPO_DIR, IN_REPO_FILE, load_in_repo, merge_in_repo
from foredeck.config.jobconfig import JobConfig
from foredeck.config.loader import ConfigBuilder, discover, load_config
from foredeck.config.result import ConfigResult, Diagnostic, warning_summary
from foredeck.config.targets import check_repo_pipelines

config_app = typer.Typer(
    name="config",
    help="Prow-compatible job configuration.",
    no_args_is_help=True,
    add_completion=False,
)

DEFAULT_IN_REPO_NAME = "in-repo/config"


class WarningsMode(StrEnum):
    summary = "summary"
    all = "all"
    none = "none"


@config_app.callback()
def config_group() -> None:
    """Prow-compatible job configuration."""


def _load_in_repo_path(path: Path, org_repo: str, central: JobConfig | None) -> ConfigResult:
    """A repository checkout (with `.foredeck.yaml` or `.foredeck/`), a folder or one file."""
    if path.is_dir() and ((path / IN_REPO_FILE).exists() or (path / IN_REPO_DIR).is_dir()):
        return load_in_repo(path, org_repo, central=central)
    files, errors = discover([path])
    builder = ConfigBuilder(in_repo=org_repo)
    builder.errors += errors
    for file in files:
        builder.add_file(file)
    presets = central.presets if central is not None else []
    return builder.build(presets=presets)


def _print(diagnostics: list[Diagnostic], prefix: str = "") -> None:
    for d in diagnostics:
        typer.echo(f"{prefix}{d}", err=True)


def _print_warnings(warnings: list[Diagnostic], mode: WarningsMode) -> None:
    if mode is WarningsMode.all:
        _print(warnings, "warning: ")
    elif mode is WarningsMode.summary and warnings:
        typer.echo(f"{len(warnings)} warnings by kind (--warnings all lists each):", err=True)
        for line in warning_summary(warnings):
            typer.echo(line, err=True)


@config_app.command("check")
def check_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Job config files or directories (Prow's job config layout)."),
    ] = None,
    in_repo: Annotated[
        Path | None,
        typer.Option(
            "--in-repo",
            help=f"In-repo config: a checkout with {IN_REPO_FILE} or {IN_REPO_DIR}/, or a file.",
        ),
    ] = None,
    repo: Annotated[
        str | None,
        typer.Option("--repo", help="org/repo the in-repo config belongs to."),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
    warnings_mode: Annotated[
        WarningsMode,
        typer.Option(
            "--warnings",
            help="summary: a count and an example per kind; all: every warning; none.",
        ),
    ] = WarningsMode.summary,
) -> None:
    """Validate job config; print counts and warnings, or every error (exit status 1)."""
    if not paths and in_repo is None:
        typer.echo("error: give config paths, --in-repo, or both", err=True)
        raise typer.Exit(2)
    result = load_config(paths or [])
    warnings = list(result.warnings)
    errors = list(result.errors)
    config = result.jobs
    files = len(result.files)
    if in_repo is not None:
        org_repo = repo or DEFAULT_IN_REPO_NAME
        extra = _load_in_repo_path(in_repo, org_repo, result.jobs if paths else None)
        warnings += extra.warnings
        errors += extra.errors
        if in_repo.is_dir():  # a checkout: the pipeline files its jobs name are there
            errors += check_repo_pipelines(extra.jobs.all_jobs(), in_repo)
        files += len(extra.files)
        if paths:
            config, clash_warnings = merge_in_repo(result.jobs, extra, org_repo)
            warnings += clash_warnings
        else:
            config = extra.jobs
    _print_warnings(warnings, warnings_mode)
    _print(errors)
    failed = bool(errors) or (strict and bool(warnings))
    c = config.counts()
    summary = (
        f"{c['presubmits']} presubmits, {c['postsubmits']} postsubmits, "
        f"{c['periodics']} periodics, {c['repos']} repos ({files} files"
        f", {len(warnings)} warnings, {len(errors)} errors)"
    )
    if failed:
        reason = "warnings (--strict)" if not errors else f"{len(errors)} errors"
        typer.echo(f"config check failed: {reason}; {summary}", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {summary}")


@config_app.command("check-roles")
def check_roles_command(
    path: Annotated[Path, typer.Argument(help="The roles file (docs/access.md).")],
) -> None:
    """Validate a roles file: print what it grants, or every error (exit status 1)."""
    from foredeck.config.roles import RolesError, load_roles

    try:
        roles = load_roles(path)
    except RolesError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    closed = sorted(key for key, value in roles.anonymous.items() if value == "none")
    typer.echo(
        f"ok: {len(roles.grants)} grants; anonymous reads off for: {', '.join(closed) or 'none'}"
    )


if __name__ == "__main__":
    config_app()
