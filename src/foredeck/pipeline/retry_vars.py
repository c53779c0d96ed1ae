"""Argo's `{{lastRetry.*}}` in a container/script body, carried as `$(context.lastRetry.*)`.

Argo gives each attempt of a retried template the previous attempt's exit code, phase,
duration (seconds) and message; a first attempt sees `0`, ``, `0`, `` (`operator.go`). The
executor supplies them (`execute/retry.last_retry`); the Argo emitter writes them back as
`{{lastRetry.*}}`; Tekton has no equal.
"""

from __future__ import annotations

PREFIX = "context.lastRetry."
FIRST = {"exitCode": "0", "status": "", "duration": "0", "message": ""}
"""What a first attempt sees (there was no previous one)."""
CONTEXT = frozenset(PREFIX + name for name in FIRST)
"""The `$(context.*)` paths."""


def ir_ref(path: str) -> str | None:
    """The IR reference of Argo variable `path` (`lastRetry.status`), or None."""
    name = path.removeprefix("lastRetry.")
    return f"$({PREFIX}{name})" if path.startswith("lastRetry.") and name in FIRST else None


def argo_tag(path: str) -> str | None:
    """`{{lastRetry.<name>}}` for an IR context path, or None when it is not one of these."""
    return "{{lastRetry." + path[len(PREFIX) :] + "}}" if path in CONTEXT else None
