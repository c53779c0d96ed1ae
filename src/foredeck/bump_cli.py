"""`foredeck bump`: point a manifests tree's image references at new images (issue 16).

A composition root: the engine (`foredeck.cd`) works on a local directory; pull-request mode
(`--repo`) joins it to the SCM provider here. The engine is imported when the
command runs, not when `foredeck --help` lists it. Exit codes: 0 done, 1 some files or
references were left as they were (each is named), 2 bad arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

if TYPE_CHECKING:
    from foredeck.cd import BumpPlan, NewImage, Pin


def bump_command(
    image: Annotated[
        list[str],
        typer.Option(help="The new image, NAME[:TAG]\\[@DIGEST]; repeat for several images."),
    ],
    dir: Annotated[
        Path, typer.Option(help="The manifests tree (a local directory).", file_okay=False)
    ] = Path("."),
    path: Annotated[
        list[str] | None,
        typer.Option(help="Only files matching this glob or under this directory (repeatable)."),
    ] = None,
    pin: Annotated[
        str | None,
        typer.Option(
            help="digest (NAME@DIGEST), tag (NAME:TAG) or both (NAME:TAG@DIGEST); "
            "default: what every --image gives (both, else digest, else tag)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the diff, write (or push) nothing.")
    ] = False,
    repo: Annotated[
        str | None,
        typer.Option(
            help="ORG/REPO: bump this repository through the SCM of the settings and open or "
            "update its bump pull request (instead of --dir)."
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            help="With --repo: the pull request's group (default: the first image's name)."
        ),
    ] = None,
    base: Annotated[str, typer.Option(help="With --repo: the branch to bump.")] = "main",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="With --repo: settings YAML (default: $FOREDECK_CONFIG)."
        ),
    ] = None,
) -> None:
    """Rewrite every reference to the images in the YAML files of DIR (or of --repo, through a
    pull request), printing the diff."""
    if repo is None:
        raise typer.Exit(bump(image, dir, path or [], pin, dry_run, sys.stdout, sys.stderr))
    raise typer.Exit(by_pull_request(image, repo, path or [], pin, group, base, dry_run, config))


def by_pull_request(
    images: list[str],
    repo: str,
    paths: list[str],
    pin: str | None,
    group: str | None,
    base: str,
    dry_run: bool,
    config: Path | None,
) -> int:
    """`--repo`: the exit code of `cd_pr.by_hand.bump_repo` (2 for bad arguments)."""
    from foredeck.cd import NewImage, RefError
    from foredeck.cd_pr.by_hand import RepoBump, bump_repo

    try:
        new = [NewImage.parse(text) for text in images]
        chosen = _pin(pin, new)
    except RefError as exc:
        print(f"bump: {exc}", file=sys.stderr)
        return 2
    name = group or new[0].name.rsplit("/", 1)[-1]
    job = RepoBump(repo, new, paths, chosen, name, base, dry_run, config)
    return bump_repo(job, sys.stdout, sys.stderr)


def bump(
    images: list[str],
    root: Path,
    paths: list[str],
    pin: str | None,
    dry_run: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """The command's work, with its output streams given: the exit code."""
    from foredeck.cd import NewImage, RefError, StaleFile, apply, plan_bump

    try:
        new = [NewImage.parse(text) for text in images]
        plan = plan_bump(root, new, paths, _pin(pin, new))
    except (RefError, NotADirectoryError) as exc:
        print(f"bump: {exc}", file=err)
        return 2
    out.write(plan.diff())
    _summary(plan, err)
    if plan.files and not dry_run:
        try:
            written = apply(plan)
        except (StaleFile, OSError) as exc:
            print(f"bump: nothing written: {exc}", file=err)
            return 1
        print(f"bump: wrote {len(written)} file(s)", file=err)
    return 1 if plan.problems else 0


def _pin(given: str | None, images: list[NewImage]) -> Pin:
    from foredeck.cd import PINS, RefError

    if given is None:
        if all(one.tag and one.digest for one in images):
            return "both"
        return "digest" if all(one.digest for one in images) else "tag"
    if given not in PINS:
        raise RefError(f"--pin must be one of {', '.join(PINS)}, not {given!r}")
    return given  # type: ignore[return-value]  # checked against PINS


def _summary(plan: BumpPlan, err: TextIO) -> None:
    for change in plan.current:
        print(f"bump: {change.path}:{change.line}: {change.old} is current", file=err)
    for problem in plan.problems:
        print(f"bump: {problem}", file=err)
    changes = plan.changes
    print(f"bump: {len(changes)} reference(s) to change in {len(plan.files)} file(s)", file=err)
