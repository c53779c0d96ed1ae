"""Removing a job's workspace, and nothing but a workspace.

A workspace path comes from a database row; whatever wrote it, the sinker and the controller's
janitor delete only inside the controller's workdir. The path is resolved first (symlinks
followed, `..` folded) so that a link or a relative path cannot point the deletion elsewhere;
`shutil.rmtree` then unlinks links inside the tree without following them.
"""

from __future__ import annotations

import logging
import shutil
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)


class Removal(StrEnum):
    REMOVED = "removed"
    MISSING = "missing"
    """Nothing there (already removed, or never created): the row can go."""
    REFUSED = "refused"
    """Outside the workdir: left alone, and the row is kept so that the problem stays visible."""
    FAILED = "failed"


def inside(path: Path, root: Path) -> bool:
    """Whether `path` is strictly below `root` (both already resolved)."""
    return path != root and path.is_relative_to(root)


def remove_workspace(workspace: str, root: Path) -> Removal:
    """Delete the directory (or file) `workspace` if it lies inside `root` (a resolved path)."""
    try:
        real = Path(workspace).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        log.warning("cannot resolve workspace %r: %s", workspace, exc)
        return Removal.FAILED
    if not inside(real, root):
        log.warning(
            "refusing to delete workspace %r: it resolves to %s, outside the workdir %s",
            workspace,
            real,
            root,
        )
        return Removal.REFUSED
    try:
        if real.is_dir():
            shutil.rmtree(real)
        elif real.exists():
            real.unlink()
        else:
            return Removal.MISSING
    except FileNotFoundError:
        return Removal.MISSING
    except OSError as exc:
        log.warning("cannot delete workspace %s: %s", real, exc)
        return Removal.FAILED
    return Removal.REMOVED
