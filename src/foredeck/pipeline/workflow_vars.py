"""Argo's workflow variables the IR carries as `$(context.workflow.*)` (no Tekton equal).

`{{workflow.duration}}` (seconds since the run started, a decimal), `{{workflow.failures}}`
(a JSON list of the failed nodes, as Argo gives it to exit handlers),
`{{workflow.creationTimestamp}}` (RFC 3339), its `.RFC3339` form and its one-letter strftime
forms (`{{workflow.creationTimestamp.Y}}`; `.s`: Unix seconds). The executor computes them
(`execute/workflow_vars.py`); the Argo emitter writes them back as `{{workflow.*}}`.
"""

from __future__ import annotations

PREFIX = "context.workflow."
STRFTIME = "aAbBcCdDeFgGHIjmMpSuUVwWxXyYzZ"
"""The strftime letters `creationTimestamp.<letter>` takes (Argo: any; these are portable)."""

NAMES = frozenset(
    {
        "duration",
        "failures",
        "creationTimestamp",
        "creationTimestamp.RFC3339",
        "creationTimestamp.s",  # Unix seconds
        *(f"creationTimestamp.{letter}" for letter in STRFTIME),
    }
)
CONTEXT = frozenset(PREFIX + name for name in NAMES)
"""The `$(context.*)` paths, for validation."""


def ir_ref(name: str) -> str | None:
    """The IR expression of `{{workflow.<name>}}`, or None when it is not one of these."""
    return f"$({PREFIX}{name})" if name in NAMES else None


def argo_tag(path: str) -> str | None:
    """`{{workflow.<name>}}` for an IR context path, or None when it is not one of these."""
    if path in CONTEXT:
        return "{{workflow." + path[len(PREFIX) :] + "}}"
    return None
