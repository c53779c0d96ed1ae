"""Slash commands in comments, as Prow reads them: a line that starts with `/NAME`.

Text that merely mentions `/lgtm` mid-line is not a command, nor is a line in a fenced code
block, nor a path such as `/usr/bin` (the name must end the line or be followed by a space).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COMMANDS = 20
"""Commands read from one comment; the rest are ignored (a comment is not a script)."""
MAX_ARGS_CHARS = 200

_FENCE = re.compile(r"(?ms)^[ \t]*```.*?^[ \t]*```[ \t]*$")
_COMMAND = re.compile(r"^/([A-Za-z][A-Za-z0-9_-]*)(?:[ \t]+(.*))?$")


@dataclass(frozen=True)
class Command:
    name: str
    """Lower case, without the slash: `lgtm`, `remove-kind`."""
    args: str
    """The rest of the line, stripped (at most `MAX_ARGS_CHARS`)."""
    line: str
    """The line as written, for replies."""

    @property
    def shown(self) -> str:
        """The line for a reply, in code format (backticks in it cannot end the code)."""
        return "`" + self.line.replace("`", "'") + "`"

    @property
    def words(self) -> list[str]:
        return self.args.split()


def parse_commands(body: str) -> list[Command]:
    """The commands of a comment, in order, outside fenced code blocks."""
    found: list[Command] = []
    for raw in _FENCE.sub("", body).splitlines():
        line = raw.rstrip()
        match = _COMMAND.match(line)
        if match is None:
            continue
        args = (match.group(2) or "").strip()[:MAX_ARGS_CHARS]
        found.append(Command(match.group(1).lower(), args, line[: MAX_ARGS_CHARS + 40]))
        if len(found) == MAX_COMMANDS:
            break
    return found


@dataclass(frozen=True)
class CommandHelp:
    """One command as `/help` lists it."""

    usage: str
    """`/hold [cancel]`."""
    description: str
    who: str
    """Who may use it, in words."""

    @property
    def name(self) -> str:
        return self.usage.split()[0].lstrip("/").lower()
