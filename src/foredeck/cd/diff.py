"""A unified diff of a bump, as `git diff` prints it, for a dry run and a pull request body."""

from __future__ import annotations

import difflib

NO_NEWLINE = "\\ No newline at end of file\n"


def unified_diff(path: str, old: str, new: str, context: int = 3) -> str:
    """`a/path` -> `b/path`; line ends are kept (a CRLF file's lines end in CRLF)."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
        n=context,
    )
    out = []
    for line in lines:
        if line.endswith(("\n", "\r")):
            out.append(line)
        else:  # the file's last line, without a line break
            out += [line + "\n", NO_NEWLINE]
    return "".join(out)
