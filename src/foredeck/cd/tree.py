"""The manifest files of a directory tree that a bump reads: YAML files only, selected by
globs, within the tree, under a size limit. What is refused is said, never silently dropped."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_MANIFEST_BYTES = 2 * 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Problem:
    """A file (or one place in it) left as it was, and why. `path` is relative to the root."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


def selected(relative: str, patterns: list[str]) -> bool:
    """Whether `relative` (posix) matches a glob of `patterns` (`*` crosses `/`) or lies under a
    directory one names; no patterns select everything."""
    if not patterns:
        return True
    for pattern in patterns:
        pattern = pattern.strip("/")
        if fnmatch.fnmatchcase(relative, pattern) or relative.startswith(f"{pattern}/"):
            return True
    return False


def manifest_files(
    root: Path, patterns: list[str], problems: list[Problem]
) -> Iterator[tuple[str, Path]]:
    """(relative path, path) of the selected YAML files under `root`, sorted. Symbolic links are
    not followed (what one in the tree points to is read where it is); one out of the tree is
    a problem."""
    top = root.resolve()
    for directory, dirs, files in os.walk(top):
        dirs[:] = sorted(name for name in dirs if name != ".git")
        here = Path(directory)
        for name in list(dirs):
            if (here / name).is_symlink():
                dirs.remove(name)
                _check_link(top, here / name, problems)  # its target is walked where it is
        for name in sorted(files):
            path = here / name
            relative = path.relative_to(top).as_posix()
            if not name.endswith(YAML_SUFFIXES) or not selected(relative, patterns):
                continue
            if path.is_symlink():
                _check_link(top, path, problems)  # never written through: its target is
                continue
            yield relative, path


def _check_link(top: Path, link: Path, problems: list[Problem]) -> None:
    if not link.resolve().is_relative_to(top):
        relative = link.relative_to(top).as_posix()
        problems.append(Problem(relative, None, "refused: a symbolic link out of the tree"))


def read_manifest(relative: str, path: Path, limit: int) -> str | Problem:
    """The text of a manifest, or why it is not read (too large, not UTF-8, a FIFO, ...)."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            return Problem(relative, None, "skipped: not a regular file")
        size = status.st_size
        if size > limit:
            return Problem(relative, None, f"skipped: {size} bytes, over the limit of {limit}")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return Problem(relative, None, f"skipped: not UTF-8 ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return Problem(relative, None, f"skipped: {exc.strerror or exc}")
