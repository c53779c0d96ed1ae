"""The shape of Argo manifests that the front end (`argo/`) and `emit_argo.py` agree on.

The emitter writes Workflows in a fixed shape so that the front end reads them back into the same
IR (IR -> Argo -> IR round-trips, and Argo -> IR -> Argo is a textual fixed point). The constants
and helpers of that shape live here, below both edges, so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Container

ARGO_API = "argoproj.io/v1alpha1"
RESULTS_DIR = "/foredeck/results"
"""Where an emitted step writes result `R` (`RESULTS_DIR/R`, read back with `valueFrom.path`)."""
RESULTS_VOLUME = "foredeck-results"
"""The emptyDir mounted at `RESULTS_DIR`."""
WORKSPACE_ROOT = "/workspace"
"""Where task workspace `W` is mounted (`WORKSPACE_ROOT/W`)."""
SCRIPT_MARKER = "foredeck-script"
# Runs a script given as `$1` the way the IR does: by its shebang, else with `sh`. Used for the
# steps of multi-step tasks, which Argo runs as a containerSet (containers have no `source`).
SCRIPT_WRAPPER = (
    'f=`mktemp` && printf "%s" "$1" > "$f" && chmod +x "$f" && '
    'case "$1" in \'#!\'*) exec "$f" ;; *) exec sh "$f" ;; esac'
)


def unique_name(base: str, taken: Container[str]) -> str:
    """`base`, else `base-2`, `base-3`, ...: the first not in `taken` (specs, templates)."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


# Scripts: Argo runs `command... <file with source>`; the IR runs a script by its shebang.


def shebang_command(script: str) -> list[str]:
    """The Argo `script.command` that runs `script` the way the IR does."""
    if not script.startswith("#!"):
        return ["sh"]
    words = script[2:].split("\n", 1)[0].split()
    if len(words) >= 2 and words[0] == "/usr/bin/env":
        words = words[1:]
        if words[0] == "-S":
            words = words[1:]
    return words or ["sh"]


def script_from_argo(command: list[str], source: str) -> str:
    """The IR script for an Argo `script` template: `source` run by `command` (the inverse of
    `shebang_command`)."""
    if source.startswith("#!") or command in (["sh"], ["/bin/sh"]):
        return source
    if command[0].startswith("/"):
        line = " ".join(command)
    else:
        line = "/usr/bin/env " + ("-S " if len(command) > 1 else "") + " ".join(command)
    return f"#!{line}\n{source}"
