"""What a job declares about itself: `metadata.json` in its `$ARTIFACTS`, as in Prow.

Prow's sidecar merges a job's `$ARTIFACTS/metadata.json` (a JSON object) into the metadata of
`finished.json`; foredeck does the same for the `metadata.json` at the top of each task's
`$ARTIFACTS` (`artifacts/<task>/metadata.json`), in the order of the directories' names. One
key is read by foredeck itself: `images`, a list of `REF@DIGEST` (or `REF:TAG`) the job
pushed, which CD bumps in the postsubmit's `cd:` targets (docs/cd.md) beside those its
`build-image` tasks pushed. A file
that is too large, not a JSON object or whose `images` is not a list of strings is ignored
with a line in the build log: the job's own result stands.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FILE = "metadata.json"
MAX_BYTES = 64 * 1024
MAX_IMAGES = 100
MAX_IMAGE_LENGTH = 512


def read_run(artifacts: Path) -> tuple[dict[str, Any], list[str]]:
    """`read` of every task directory under a run's `artifacts/`."""
    try:  # scandir's entry types come with the listing: no stat per task directory
        with os.scandir(artifacts) as entries:
            dirs = sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return {}, []
    return read(dirs)


def read(task_dirs: Iterable[Path]) -> tuple[dict[str, Any], list[str]]:
    """The declared metadata of the tasks whose `$ARTIFACTS` are `task_dirs` (later tasks win
    a key, `images` accumulate), and why a file was ignored (each a line)."""
    merged: dict[str, Any] = {}
    images: list[str] = []
    problems: list[str] = []
    for directory in task_dirs:
        path = directory / FILE
        found, problem = _one(path)
        if problem is not None:
            problems.append(f"{directory.name}/{FILE} ignored: {problem}")
            continue
        if found is None:
            continue
        for image in found.pop("images", []):
            if image not in images:
                images.append(image)
        merged.update(found)
    if images:
        merged["images"] = images[:MAX_IMAGES]
    return merged, problems


def _one(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:  # one open for the common case, no file: O_NOFOLLOW refuses a symbolic link
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        link = exc.errno == errno.ELOOP
        return None, "not a regular file" if link else f"unreadable ({exc.strerror})"
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None, "not a regular file"
    try:
        with os.fdopen(fd, "rb") as file:
            if info.st_size > MAX_BYTES:
                return None, f"larger than {MAX_BYTES // 1024} KiB"
            data = json.loads(file.read(MAX_BYTES + 1))
    except (OSError, ValueError) as exc:
        return None, f"not JSON ({type(exc).__name__})"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    images = data.get("images", [])
    valid = isinstance(images, list) and all(
        isinstance(i, str) and 0 < len(i) <= MAX_IMAGE_LENGTH and not i.startswith("-")
        for i in images
    )
    if not valid or len(images) > MAX_IMAGES:
        return None, f"images must be a list of at most {MAX_IMAGES} image references"
    return data, None
