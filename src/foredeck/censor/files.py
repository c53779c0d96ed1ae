"""Censoring files in place before they are published: text artifacts, JUnit reports.

Like Prow's sidecar, a file is streamed through the censor into a temporary file beside it,
which then replaces it; a file with nothing to censor is left as it is (same inode, so hard
links and mtimes stay). Archives and compressed files are censored member by member
(`archives.py`). Other binary files (a NUL byte in their first 8 KiB, git's test) are not
touched: masking bytes in an image would only corrupt it. Symbolic links are not followed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path
from typing import IO

from foredeck.censor import archives
from foredeck.censor.archives import censor_archive, kind
from foredeck.censor.matcher import Censor
from foredeck.censor.rewrite import rewrite

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
SNIFF = 8192


def is_text(path: Path) -> bool:
    with open(path, "rb") as source:
        return b"\x00" not in source.read(SNIFF)


def censor_file(path: Path, censor: Censor) -> bool:
    """Censor `path` in place if it is a text file or an archive (of text files); whether
    anything was masked. An archive that cannot be read or is too large is left as it is,
    and said in the log, unless it is text (no NUL in its first bytes): then it is censored
    as text, as a text file whose first bytes happen to be an archive's magic must be."""
    if not censor:
        return False
    found = kind(path)
    if found is not None:
        try:
            return censor_archive(path, censor, found=found)
        except archives.ERRORS as exc:
            if not is_text(path):
                log.warning("archive %s left uncensored: %s", path.name, exc)
                return False
            # text that only starts like one (`BZh`, `ustar` at 257): censored as text
            log.warning("%s is no readable archive (%s): censored as text", path.name, exc)
    elif not is_text(path):
        return False

    def write(target: IO[bytes]) -> bool:
        stream = censor.stream()
        with open(path, "rb") as source:
            while chunk := source.read(CHUNK):
                target.write(stream.feed(chunk))
        target.write(stream.flush())
        return stream.masked > 0

    return rewrite(path, write)


def censor_tree(root: Path, censor: Censor, skip: Collection[str] = ()) -> list[str]:
    """Censor every text file under `root` whose name is not in `skip`; the paths (relative
    to `root`) that had something masked."""
    if not censor or not root.is_dir():
        return []
    changed = []
    for folder, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = Path(folder) / name
            if name in skip or path.is_symlink() or not path.is_file():
                continue
            if censor_file(path, censor):
                changed.append(path.relative_to(root).as_posix())
    return sorted(changed)
