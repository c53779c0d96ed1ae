"""Short, stable reasons: an error's gist without names, paths or lines, and missing commands.

A ledger entry must not change when an example's template is renamed, a temp path differs or a
message gains detail after its first clause; it must change when the kind of refusal does.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.kit import standins as kit_standins

_LOCATION = re.compile(r"\S+\.ya?ml:\d+")
_LEADING_PLACE = re.compile(r"^(- )?<file>:? ?")
# A node's name after its kind ("template 'main'", "finally task 'x'"): specific, elided.
_NAMED = re.compile(
    r"\b(template|task|step|Task|Pipeline|PipelineRun|Workflow|WorkflowTemplate|param|argument"
    r"|workspace|container|result) '[^']*'"
)
_LEADING_NAMES = re.compile(r"^((finally )?\w+ '…' )+(?=\w+ '…')")  # keep the last
_BACKTICK_CONTEXT = re.compile(r"`(\w+): [^`]*`")  # `depends: A || B` -> `depends`
_PARENTHETICAL = re.compile(r"\s+\([^()]*\)")  # not the $(...) of a reference
MAX_REASON = 90
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
_FUNCTION = re.compile(r"^\s*(?:function\s+)?(\w[\w-]*)\s*\(\)", re.MULTILINE)
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
# Words the shell runs itself: never a missing executable.
_SHELL_WORDS = frozenset(
    re.split(
        r"\s+",
        "if then else elif fi for while until do done case esac in function return exit export"
        " set unset local read echo printf test [ [[ ] ]] true false cd pwd shift eval exec"
        " source . : break continue trap wait { } ( ) ! time declare typeset let",
    )
)


def error_reason(exc: BaseException) -> str:
    """The gist of a refusal: its first error's first clause, node names and places elided."""
    errors = getattr(exc, "errors", None)  # a report of several errors: judge by the first
    if isinstance(errors, list | tuple) and errors and isinstance(errors[0], BaseException):
        exc = errors[0]
    lines = [line.strip() for line in str(getattr(exc, "message", exc)).splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > 1 and lines[0].endswith(":"):  # "3 errors:" and one error a line
        lines = lines[1:]
    message = _LEADING_PLACE.sub("", _LOCATION.sub("<file>", lines[0] if lines else ""))
    message = _BACKTICK_CONTEXT.sub(r"`\1`", _NAMED.sub(r"\1 '…'", message))
    message = _PARENTHETICAL.sub("", message)
    while True:  # drop the leading "template '…' step '…' when: {{…}}: " context
        head, sep, rest = message.partition(": ")
        context = "'…'" in head or re.fullmatch(r"(\{\{.*\}\}|\$\(.*\))", head)
        if not sep or "`" in head or not context:
            break
        message = rest
    message = _LEADING_NAMES.sub("", message).split("; ")[0]
    head, sep, _ = message.partition(": ")
    if sep and len(head.split()) >= 3 and "`" not in head:
        message = head
    return message.rstrip(" .;:")[:MAX_REASON] or type(exc).__name__


# ---- executables an example's images must supply


def missing_commands(files: tuple[Path, ...], search: str | None = None) -> list[str]:
    """Executables the example's steps start that the PATH `search` (default: $PATH) lacks.

    Read from the raw YAML (any container-like mapping: `image` with `command`, `args`,
    `script` or `source`): a container's `command[0]`, a script's interpreter, and the first
    word of each line of shell text, which an image would provide.
    """
    missing: set[str] = set()
    for file in files:
        for doc in yaml.safe_load_all(file.read_text()):
            for container in _containers(doc):
                for word in _started(container):
                    lacking = " " in word or shutil.which(word, path=search) is None
                    if word not in _SHELL_WORDS and lacking:
                        missing.add(word)
    return sorted(missing)  # sorted: a ledger reason


def standin_gaps(files: tuple[Path, ...]) -> list[str]:
    """What the example's containers ask of their real images that the stand-ins lack."""
    gaps: set[str] = set()
    for file in files:
        for doc in yaml.safe_load_all(file.read_text()):
            for container in _containers(doc):
                parts = [*(container.get("command") or []), *(container.get("args") or [])]
                body = container.get("script") or container.get("source")
                text = "\n".join(str(p) for p in [*parts, body] if p is not None)
                gaps.update(kit_standins.standin_gaps(str(container["image"]), text))
    return sorted(gaps)  # sorted: a ledger reason


def images(files: tuple[Path, ...]) -> list[str]:
    """The images the example's containers name (those spelled with a variable left out)."""
    named: set[str] = set()
    for file in files:
        for doc in yaml.safe_load_all(file.read_text()):
            for container in _containers(doc):
                image = str(container["image"])
                if "{{" not in image and "$(" not in image:
                    named.add(image)
    return sorted(named)


def _containers(value: Any, key: str = "") -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        runs = {"command", "args", "script", "source"} & value.keys()
        # named: a containerSet's, a sidecar; under `container`: a template's (a daemon's)
        if "image" in value and (runs or "name" in value or key == "container"):
            yield value
        for name, item in value.items():
            yield from _containers(item, str(name))
    elif isinstance(value, list):
        for item in value:
            yield from _containers(item)


def _started(container: dict[str, Any]) -> Iterator[str]:
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    body = container.get("script") or container.get("source")
    text = body if isinstance(body, str) else None
    if not command and body is None:
        yield f"the entrypoint of {container['image']}"
        return
    if command:  # an Argo script's `command` runs its `source`
        yield Path(command[0]).name
        if Path(command[0]).name not in _SHELLS:
            return
        argv = command + args
        text = argv[argv.index("-c") + 1] if "-c" in argv[:-1] else text
    elif text is not None and text.startswith("#!"):  # a Tekton script runs by its shebang
        parts = text.splitlines()[0][2:].split() or ["sh"]
        name = Path(parts[0]).name
        interpreter = parts[1] if name == "env" and len(parts) > 1 else name
        yield interpreter
        if interpreter not in _SHELLS:
            return
    if text is not None:
        yield from _line_heads(text)


def _line_heads(text: str) -> Iterator[str]:
    """The first word of each simple shell line (enough for `cowsay hi`), heredocs skipped."""
    until: str | None = None
    functions = set(_FUNCTION.findall(text))
    for line in text.splitlines():
        if until is not None:
            until = None if line.strip() == until else until
            continue
        heredoc = _HEREDOC.search(line)
        until = heredoc.group(1) if heredoc else None
        words = line.strip().split()
        if not words or words[0].startswith(("#", "$", '"', "'", "-")) or "=" in words[0]:
            continue
        word = words[0].rstrip(";")
        if re.fullmatch(r"[A-Za-z0-9_.+/-]+", word) and word not in functions:
            yield Path(word).name if word.startswith("/") else word
