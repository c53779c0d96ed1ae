"""A bump of a manifests tree: `plan_bump` finds what to change, `apply` writes it.

The plan holds each changed file's old and new text, so a dry run prints its diff and the pull
request side commits the very same bytes. Bad files (invalid YAML, too large, links out of the
tree) and references that cannot be rewritten in place are problems of the plan: the other
files are still bumped.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from yaml import MarkedYAMLError, YAMLError

from foredeck.cd.diff import unified_diff
from foredeck.cd.refs import NewImage, Pin, RefError
from foredeck.cd.rewrite import rewrite
from foredeck.cd.scan import KUSTOMIZATION_FILES, TooDeep, Unwritable, find_sites
from foredeck.cd.source import Edit, RewriteError, splice
from foredeck.cd.tree import MAX_MANIFEST_BYTES, Problem, manifest_files, read_manifest


@dataclass(frozen=True)
class Change:
    """One reference rewritten (or found current): `line` is 1-based, `image` canonical."""

    path: str
    line: int
    image: str
    old: str
    new: str


@dataclass
class FilePlan:
    path: str
    old: str
    new: str
    changes: list[Change]

    def diff(self) -> str:
        return unified_diff(self.path, self.old, self.new)


@dataclass
class BumpPlan:
    root: Path
    files: list[FilePlan] = field(default_factory=list)
    current: list[Change] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return [change for one in self.files for change in one.changes]

    def diff(self) -> str:
        return "".join(one.diff() for one in self.files)


class StaleFile(RuntimeError):
    """A planned file changed on disk before `apply` wrote it."""


def plan_bump(
    root: Path,
    images: list[NewImage],
    paths: list[str],
    pin: Pin,
    max_bytes: int = MAX_MANIFEST_BYTES,
) -> BumpPlan:
    """The bump of every reference to `images` in the YAML files of `root` that `paths` (globs,
    relative to `root`; none = all) select. Raises `RefError` when an image lacks what `pin`
    needs or is given twice, and `NotADirectoryError` when `root` is not a directory."""
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a directory")
    wanted = {}
    for image in images:
        if image.canonical in wanted:
            raise RefError(f"{image.canonical} is given twice")
        wanted[image.canonical] = image.wanted(pin)
    needles = {PurePosixPath(name).name for name in wanted}
    plan = BumpPlan(root)
    for relative, path in manifest_files(root, paths, plan.problems):
        text = read_manifest(relative, path, max_bytes)
        if isinstance(text, Problem):
            plan.problems.append(text)
        elif any(needle in text for needle in needles):  # parse only what may mention one
            _plan_file(plan, relative, text, wanted)
    return plan


def _plan_file(
    plan: BumpPlan, relative: str, text: str, wanted: dict[str, tuple[str | None, str | None]]
) -> None:
    kustomization = PurePosixPath(relative).name in KUSTOMIZATION_FILES
    changes: list[Change] = []
    edits: list[Edit] = []
    try:
        for site in find_sites(text, kustomization):
            if site.name not in wanted:
                continue
            if isinstance(site, Unwritable):
                plan.problems.append(Problem(relative, site.line, f"{site.name}: {site.message}"))
                continue
            try:
                one = rewrite(text, site, *wanted[site.name])
            except RewriteError as exc:
                plan.problems.append(Problem(relative, exc.line, f"{site.name}: {exc}"))
                continue
            change = Change(relative, one.line, site.name, one.old, one.new)
            (plan.current if one.current else changes).append(change)
            edits += one.edits
    except YAMLError as exc:
        plan.problems.append(_invalid(relative, exc))
        return
    except TooDeep as exc:
        plan.problems.append(Problem(relative, None, f"skipped: {exc}"))
        return
    except RecursionError:  # block collections: the composer recurses
        plan.problems.append(Problem(relative, None, "skipped: nested too deeply"))
        return
    if changes:
        try:
            new = splice(text, edits)
        except ValueError as exc:  # two sites share one value (an alias) but want two texts
            plan.problems.append(Problem(relative, None, f"left as it was: {exc}"))
            return
        plan.files.append(FilePlan(relative, text, new, _unique(changes)))


def _unique(changes: list[Change]) -> list[Change]:
    return list(dict.fromkeys(changes))


def _invalid(relative: str, exc: YAMLError) -> Problem:
    mark = exc.problem_mark if isinstance(exc, MarkedYAMLError) else None
    problem = exc.problem if isinstance(exc, MarkedYAMLError) and exc.problem else str(exc)
    return Problem(relative, mark.line + 1 if mark else None, f"invalid YAML: {problem}")


def apply(plan: BumpPlan) -> list[Path]:
    """Write the plan's files (each replaced whole, its mode kept); the paths written. Raises
    `StaleFile` before writing anything when a file is no longer what the plan read."""
    targets = [(plan.root / one.path, one) for one in plan.files]
    for path, one in targets:
        if path.is_symlink() or path.read_bytes() != one.old.encode("utf-8"):
            raise StaleFile(f"{one.path} changed since the bump was planned: plan it again")
    for path, one in targets:
        _replace(path, one.new.encode("utf-8"))
    return [path for path, _ in targets]


def _replace(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
