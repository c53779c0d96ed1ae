"""`foredeck run` in a git repository: the pipeline's source workspace holds the working tree.

Like `act`, a local run tests the code where it is: the repository's files, with the edits not
yet committed. The workspace is a *copy* of the working tree (`git ls-files -co
--exclude-standard`: tracked files as they are on disk, plus untracked files that are not
ignored), so the steps can build, write and delete there without touching the user's tree.
Hard links would be cheaper but are not safe: a step that opens a file for writing (`>`, `>>`,
an editor's in-place save) would change the user's file through the shared inode.

The copy is a git repository too, as a CI checkout is: a `git clone --shared --no-checkout`
of the user's repository (no object is copied; new commits in the copy stay in the copy), at
the user's `HEAD` with a copy of the user's index, so `git status` in a step shows the
uncommitted edits and `git describe` works. Runs of foredeck kept inside the repository
(`.foredeck/runs/`, `--out`) are never copied.

Which pipeline workspace is the source (`source_workspace`): the only one the pipeline
declares, else the one named `source`, `workspace` or `src`, else the first. `--workspace
NAME=PATH` binds a workspace to the directory PATH itself (no copy; steps may write there),
for the source too (`--workspace source=.` runs the steps in the repository itself).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from foredeck.pipeline.model import Pipeline, PipelineRunSpec

SOURCE_NAMES = ("source", "workspace", "src")
"""Names that mark a pipeline's source workspace when it declares several."""
UNDECLARED_SOURCE = "source"
"""The workspace directory that holds the copy when the pipeline declares no workspace."""
_GIT_TIMEOUT = 120.0


class CheckoutError(ValueError):
    """The working tree cannot be copied or a `--workspace` binding is wrong (one line)."""


def source_workspace(pipeline: Pipeline) -> str | None:
    """The workspace that gets the repository: the only one, a conventional name, or the first."""
    names = [workspace.name for workspace in pipeline.workspaces]
    if len(names) <= 1:
        return names[0] if names else None
    return next((name for name in SOURCE_NAMES if name in names), names[0])


def parse_bindings(texts: Iterable[str], pipeline: Pipeline) -> dict[str, Path]:
    """`NAME=PATH` arguments as absolute directories; an error names the bad argument."""
    declared = [workspace.name for workspace in pipeline.workspaces]
    bindings: dict[str, Path] = {}
    for text in texts:
        name, sep, path = text.partition("=")
        if not sep or not name or not path:
            raise CheckoutError(f"--workspace {text!r}: expected NAME=PATH")
        if name not in declared:
            has = f"it has: {', '.join(declared)}" if declared else "it declares none"
            what = f"pipeline {pipeline.name!r} has no workspace {name!r}"
            raise CheckoutError(f"--workspace {text!r}: {what} ({has})")
        directory = Path(os.path.abspath(path))
        if not directory.is_dir():
            raise CheckoutError(f"--workspace {text!r}: {directory} is not a directory")
        bindings[name] = directory
    return bindings


def repository_root(directory: Path) -> Path | None:
    """The top level of the git working tree holding `directory`; None outside one (or no git)."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except OSError:
        return None
    top = proc.stdout.strip()
    return Path(top) if proc.returncode == 0 and top else None


@dataclass
class CopyStats:
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class WorkingTreeCopy:
    """Copies the working tree of `root` into a fresh directory (a workspace `fill`)."""

    root: Path
    exclude: tuple[Path, ...] = ()
    """Absolute directories inside `root` never copied (foredeck's own run directories)."""
    on_done: Callable[[str], None] | None = None
    """Receives one line saying what was copied, or why the copy has no git metadata."""

    def __call__(self, dest: Path) -> None:
        self.copy(dest)

    def files(self) -> list[bytes]:
        """Tracked files (as on disk) and untracked, not ignored ones, relative to `root`."""
        proc = _git(self.root, "ls-files", "-co", "--exclude-standard", "-z")
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip().splitlines()
            raise CheckoutError(f"{self.root}: git ls-files failed: {' '.join(message[-1:])}")
        prefixes = []
        for path in self.exclude:
            try:
                relative = path.resolve().relative_to(self.root.resolve())
            except ValueError:
                continue
            prefixes.append(os.fsencode(relative) + b"/")
        names = [n for n in proc.stdout.split(b"\0") if n]
        return [n for n in names if not any(n.startswith(p) for p in prefixes)]

    def copy(self, dest: Path) -> CopyStats:
        started = time.monotonic()
        note = _clone_metadata(self.root, dest)
        stats = copy_files(self.root, dest, self.files())
        if note is None:
            note = _copy_index(self.root, dest)
        stats.seconds = time.monotonic() - started
        if self.on_done is not None:
            self.on_done(
                f"copied {stats.files} files ({stats.bytes / 1e6:.1f} MB) of {self.root} "
                f"in {stats.seconds:.2f}s" + (f"; {note}" if note else "")
            )
        return stats


def copy_files(root: Path, dest: Path, names: Iterable[bytes]) -> CopyStats:
    """Copy `names` (relative, as git lists them) from `root` to `dest`: files with their mode
    and times, symlinks as symlinks, a submodule's directory whole; missing files skipped."""
    stats = CopyStats()
    src_root, dst_root = os.fsencode(root), os.fsencode(dest)
    made: set[bytes] = {b""}
    for name in names:
        src = os.path.join(src_root, name)
        dst = os.path.join(dst_root, name)
        try:
            st = os.lstat(src)
        except FileNotFoundError:  # tracked but deleted in the working tree
            continue
        parent = os.path.dirname(name)
        if parent not in made:
            os.makedirs(os.path.join(dst_root, parent), exist_ok=True)
            made.add(parent)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):  # a submodule: git lists its directory only
            shutil.copytree(os.fsdecode(src), os.fsdecode(dst), symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copyfile(src, dst, follow_symlinks=False)
            os.chmod(dst, st.st_mode & 0o7777)
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
            stats.bytes += st.st_size
        stats.files += 1
    return stats


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, timeout=_GIT_TIMEOUT, check=False
    )


def _clone_metadata(root: Path, dest: Path) -> str | None:
    """Make `dest` a repository sharing `root`'s objects; None, or why it could not."""
    proc = _git(root, "clone", "--quiet", "--shared", "--no-checkout", str(root), str(dest))
    if proc.returncode != 0:
        dest.mkdir(parents=True, exist_ok=True)
        return "no git metadata: " + _last_line(proc.stderr)
    head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if head.returncode != 0:
        return "no git metadata: the repository has no commit yet"
    sha = head.stdout.decode().strip()
    cloned = _git(dest, "rev-parse", "--verify", "--quiet", "HEAD")
    if cloned.returncode == 0 and cloned.stdout.decode().strip() == sha:
        return None  # on the user's branch already
    moved = _git(dest, "update-ref", "--no-deref", "HEAD", sha)  # detached, as the user's
    return None if moved.returncode == 0 else "git HEAD not set: " + _last_line(moved.stderr)


def _copy_index(root: Path, dest: Path) -> str | None:
    """The copy's index: the user's, so `git status` in a step shows what the user's shows
    (staged and unstaged edits). The copied files keep their size and mtime but not their
    inode or ctime, so the copy compares only those (`core.checkStat minimal`); hashing every
    file instead (`git reset`) took 0.7-1 s for 5000 files where this takes 0.07 s."""
    index = _git(root, "rev-parse", "--git-path", "index")
    source = root / index.stdout.decode().strip()
    if index.returncode == 0 and source.is_file():
        shutil.copyfile(source, dest / ".git" / "index")
        for key, value in (("core.checkStat", "minimal"), ("core.trustctime", "false")):
            _git(dest, "config", key, value)
        if _git(dest, "update-index", "-q", "--refresh").returncode == 0:
            return None
    proc = _git(dest, "reset", "--quiet")  # no usable index: one at HEAD
    return None if proc.returncode == 0 else "git index not set: " + _last_line(proc.stderr)


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "git failed"


def repository_bindings(
    run: PipelineRunSpec, cwd: Path, out_dir: Path, explicit: Mapping[str, Path]
) -> tuple[dict[str, Path | WorkingTreeCopy], str | None]:
    """The run's workspace bindings and the workspace steps start in (None: no source).

    The explicit `--workspace` bindings, plus, inside a git repository, a copy of its working
    tree as the source workspace unless a binding names it already.
    """
    bindings: dict[str, Path | WorkingTreeCopy] = dict(explicit)
    source = source_workspace(run.pipeline)
    if source is not None and source in explicit:
        return bindings, source
    root = repository_root(cwd)
    if root is None:
        return bindings, None
    name = source or UNDECLARED_SOURCE
    runs = Path(os.path.abspath(cwd)) / ".foredeck" / "runs"
    exclude = (Path(os.path.abspath(out_dir)), runs, root / ".foredeck" / "runs")
    bindings[name] = WorkingTreeCopy(root, exclude)
    return bindings, name


def default_working_dir(run: PipelineRunSpec, directory: Path) -> None:
    """Steps that name no `workingDir` run in `directory` (the checkout), as in a CI pod; a
    relative image build context is in it too."""
    pipeline = run.pipeline
    specs = [t.task_spec for t in pipeline.all_tasks() if t.task_spec is not None]
    for spec in [*specs, *pipeline.task_library.values()]:
        for step in spec.steps:
            if not step.working_dir:
                step.working_dir = str(directory)
        build = spec.build
        if build is not None and not build.context.startswith(("/", "$(")):
            build.context = os.path.normpath(directory / build.context)
