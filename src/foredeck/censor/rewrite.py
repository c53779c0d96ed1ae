"""Replacing a file with a censored copy: written beside it, put in its place only when
something was masked (a clean file keeps its inode, so hard links and mtimes stay)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def rewrite(path: Path, write: Callable[[IO[bytes]], bool]) -> bool:
    """Call `write` with a new file beside `path`; if it returns True (something masked), the
    new file, with `path`'s mode, replaces `path`. Whatever `write` raises, `path` stays."""
    fd, temp = tempfile.mkstemp(prefix=".censor-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as target:
            changed = write(target)
        if changed:
            os.chmod(temp, os.stat(path).st_mode & 0o7777)
            os.replace(temp, path)
        return changed
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
