"""Where a value is written in a manifest's text, and edits spliced into that text.

The YAML parser only says where things are; the new text goes into the original characters at
those places, so every other byte of the file (comments, quoting, indentation, line ends,
flow style) stays as it was. Anything this cannot rewrite exactly (block scalars, escapes,
values over several lines) is reported, never approximated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode

_LINE_BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")
_PROPERTY = re.compile(r"(?:[&!][^\s]*\s+)*")
_COLON = re.compile(r"[ \t]*:")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:/@+-]+")
# What YAML 1.1 or 1.2 reads as a number, a boolean or null when it is written plain.
_NOT_A_STRING = re.compile(
    r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    r"|0[xX][0-9a-fA-F_]+|0o[0-7]+|0b[01_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[yYnN~]|yes|Yes|YES|no|No|NO|true|True|TRUE"
    r"|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|"
)


class RewriteError(ValueError):
    """A value that cannot be rewritten in place; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Scalar:
    """A one-line scalar: its characters `start:end` (quotes included) and its value."""

    start: int
    end: int
    value: str
    style: str | None  # None (plain), "'" or '"'
    line: int


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def scalar(text: str, node: Node, key: Node | None = None) -> Scalar:
    """The written form of `node`, a scalar on one line; raises `RewriteError` otherwise. An
    empty plain value (`tag:`) is placed right after its key's colon."""
    line = node.start_mark.line + 1
    if not isinstance(node, ScalarNode):
        raise RewriteError(line, "not a single value")
    start, end = node.start_mark.index, node.end_mark.index
    if key is not None and not node.style and node.value == "" and start == end:
        colon = _COLON.match(text, key.end_mark.index)
        if colon is None:
            raise RewriteError(line, f"cannot find the value of {key.value!r}")
        return Scalar(colon.end(), colon.end(), "", None, key.end_mark.line + 1)
    properties = _PROPERTY.match(text, start, end)
    start = properties.end() if properties else start
    style = node.style if node.style in ("'", '"') else None
    quote = style or ""
    written = text[start:end]
    if node.style not in (None, "", "'", '"') or written != f"{quote}{node.value}{quote}":
        raise RewriteError(
            line, f"{written[:60]!r} is not a one-line value: it cannot be rewritten in place"
        )
    return Scalar(start, end, node.value, style, line)


def render(value: str, style: str | None) -> str:
    """`value` as a scalar of `style`; a plain one that YAML would read as a number, a
    boolean or null is double-quoted instead (a tag `1.10` must stay a string)."""
    if not _SAFE_VALUE.fullmatch(value):
        raise ValueError(f"{value!r} has characters a reference never has")
    if style is None and _NOT_A_STRING.fullmatch(value):
        style = '"'
    quote = style or ""
    return f"{quote}{value}{quote}"


def replace(at: Scalar, value: str) -> Edit:
    """`value` in place of `at`; an empty plain value (`tag:`) gets the space it lacks."""
    space = " " if at.start == at.end else ""
    return Edit(at.start, at.end, space + render(value, at.style))


def _line_bounds(text: str, index: int) -> tuple[int, int, int]:
    """(start of the line holding `index`, end of its content, start of the next line)."""
    begin = max(text.rfind(c, 0, index) for c in "\n\r\x85\u2028\u2029") + 1
    found = _LINE_BREAK.search(text, index)
    if found is None:
        return begin, len(text), len(text)
    return begin, found.start(), found.end()


def line_break(text: str) -> str:
    """The file's line break (its first one), so that a new line matches the others."""
    found = _LINE_BREAK.search(text)
    return found.group() if found else "\n"


def insert_after(text: str, mapping: Node, after: Scalar, key: str, value: str) -> Edit:
    """A new `key: value` line in a block mapping, below the line of `after` (a value of it)
    and indented as the mapping's keys."""
    if not isinstance(mapping, MappingNode) or mapping.flow_style:
        raise RewriteError(after.line, f"cannot add {key!r} to a flow mapping: add it by hand")
    indent = mapping.value[0][0].start_mark.column
    _, content_end, next_start = _line_bounds(text, after.end)
    newline = line_break(text)
    line = f"{' ' * indent}{key}: {render(value, None)}"
    if next_start == content_end:  # the last line, without a line break
        return Edit(content_end, content_end, newline + line)
    return Edit(next_start, next_start, line + newline)


def delete_line(text: str, key: Node, at: Scalar) -> Edit:
    """Remove the line of `key: value` when it holds nothing else (a comment aside)."""
    begin, content_end, next_start = _line_bounds(text, at.start)
    key_start = key.start_mark.index
    rest = text[at.end : content_end].strip()
    if text[begin:key_start].strip() or key_start < begin or (rest and not rest.startswith("#")):
        raise RewriteError(at.line, f"cannot remove {key.value!r}: it shares its line")
    return Edit(begin, next_start, "")


def splice(text: str, edits: list[Edit]) -> str:
    """`text` with `edits` (non-overlapping; the same edit twice counts once) applied;
    insertions at one place keep their order."""
    parts, position = [], 0
    for edit in sorted(dict.fromkeys(edits), key=lambda e: (e.start, e.end)):
        if edit.start < position:
            line = text.count("\n", 0, edit.start) + 1
            raise ValueError(f"two changes of one value, line {line} (an alias?)")
        parts += [text[position : edit.start], edit.text]
        position = edit.end
    parts.append(text[position:])
    return "".join(parts)
