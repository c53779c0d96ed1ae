"""Store-relative object paths: the one gate every store method passes names through.

Names come from job configs, PR numbers and artifact directories written by untrusted jobs, so
anything that could climb out of the store root or mean different things on different back ends is
refused rather than normalised: `..`, `.`, absolute paths, empty segments, backslashes, NUL and
other control characters.
"""

from __future__ import annotations

MAX_PATH_BYTES = 1024
"""GCS's and S3's object-name limit; the same everywhere keeps stores interchangeable."""


def clean_path(path: str, *, prefix: bool = False) -> str:
    """Return `path` checked (a file's path, or with `prefix=True` a directory, maybe `""`).

    A prefix may end with one `/`, which is dropped. Raises `ValueError` saying what is wrong.
    """
    if not isinstance(path, str):
        raise ValueError(f"store path must be a string, not {type(path).__name__}")
    if prefix and path.endswith("/"):
        path = path[:-1]
    if path == "":
        if prefix:
            return ""
        raise ValueError("empty store path")
    bad = next((c for c in path if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise ValueError(f"store path {path!r} contains control character {bad!r}")
    if "\\" in path:
        raise ValueError(f"store path {path!r} contains a backslash")
    if path.startswith("/"):
        raise ValueError(f"store path {path!r} is absolute; paths are relative to the store")
    for segment in path.split("/"):
        if segment in {"", ".", ".."}:
            raise ValueError(f"store path {path!r} has an empty, '.' or '..' segment")
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise ValueError(f"store path is longer than {MAX_PATH_BYTES} bytes")
    return path


def join(*parts: str) -> str:
    """Join store path parts, skipping empty ones (like Go's `path.Join`), and check the result."""
    return clean_path("/".join(p.strip("/") for p in parts if p.strip("/")), prefix=True)
