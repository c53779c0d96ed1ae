"""What an Argo `resource` template says about its object: conditions, flags and JSONPaths.

Argo evaluates `successCondition` / `failureCondition` as Kubernetes label selectors whose
keys are gjson paths into the object (`status.succeeded > 0`, `status.phase in (Failed)`):
`labels.Parse` for the syntax, `Requirement.Matches` for the meaning, gjson's `String()` for
a field's text (`workflow/executor/resource.go`, revision 680ee6c2). Output parameters are
read with kubectl's JSONPath templates (`{.metadata.name}`), whose common subset is here.
`flags` are kubectl's: the ones that name the object (`TYPE NAME`, `TYPE/NAME`, `-l`) are
understood, `--validate` is without effect on the API, and the others are refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Operator = Literal["exists", "!", "=", "!=", "in", "notin", ">", "<"]


class SelectorError(ValueError):
    """A condition, a flag or a JSONPath that cannot be understood."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Operator
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(self.values)})"
        return f"{self.key}{self.op}{self.values[0]}"

    def matches(self, obj: Any) -> bool:
        """`Requirement.Matches` of Kubernetes over the object's gjson view."""
        found, text = field_text(obj, self.key)
        if self.op == "exists":
            return found
        if self.op == "!":
            return not found
        if self.op in ("=", "in"):
            return found and text in self.values
        if self.op in ("!=", "notin"):
            return not found or text not in self.values
        if not found or not re.fullmatch(r"-?\d+", text):
            return False
        number, bound = int(text), int(self.values[0])
        return number > bound if self.op == ">" else number < bound


_KEY = r"[A-Za-z0-9_./#\\-]+"
_VALUE = r"[A-Za-z0-9_.-]*"
_TERM = re.compile(
    rf"\s*(?:(?P<not>!)\s*(?P<nkey>{_KEY})"
    rf"|(?P<key>{_KEY})\s*(?:(?P<op>==|=|!=|>|<)\s*(?P<value>{_VALUE})"
    rf"|\s(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)


def parse_requirements(text: str) -> list[Requirement]:
    """A label-selector text as its requirements (empty text: none)."""
    out: list[Requirement] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None or m.end() == pos:
            raise SelectorError(f"condition {text!r}: cannot parse at {text[pos:]!r}")
        pos = m.end()
        if m["not"]:
            out.append(Requirement(m["nkey"], "!"))
        elif m["op"]:
            op: Operator = "=" if m["op"] == "==" else m["op"]  # type: ignore[assignment]
            if op in (">", "<") and not re.fullmatch(r"-?\d+", m["value"]):
                raise SelectorError(f"condition {text!r}: {m['op']} needs an integer")
            out.append(Requirement(m["key"], op, (m["value"],)))
        elif m["set"]:
            values = tuple(v.strip() for v in m["values"].split(","))
            bad = [v for v in values if not re.fullmatch(_VALUE, v)]
            if bad:
                raise SelectorError(f"condition {text!r}: invalid value {bad[0]!r}")
            out.append(Requirement(m["key"], m["set"], values))  # type: ignore[arg-type]
        else:
            out.append(Requirement(m["key"], "exists"))
    return out


def field_text(obj: Any, path: str) -> tuple[bool, str]:
    """(whether it exists, its text) of a gjson path: dot-separated keys (`\\.` escapes a
    dot), an array index, or `#` for an array's length. Text as gjson's `String()`: a string
    as is, JSON for the rest, `""` for null."""
    value = obj
    for part in re.split(r"(?<!\\)\.", path):
        part = part.replace("\\.", ".")
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part == "#":
            value = len(value)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, ""
    return True, as_text(value)


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


@dataclass
class Target:
    """The object(s) flags name, beside or instead of the manifest."""

    kind: str = ""  # a resource type as kubectl takes it (`pod`, `workflows`, `job.batch`)
    name: str = ""
    selector: str = ""  # `-l`: label selector (get, delete)
    notes: list[str] = field(default_factory=list)


_NO_EFFECT = ("--validate", "--ignore-not-found", "--wait")


def check_flags(flags: list[str], action: str) -> None:
    """Refuse, before a run, flags that are literal and not understood."""
    literal = [f if "$(" not in f else "x" for f in flags]
    parse_flags(literal, action)


def parse_flags(flags: list[str], action: str) -> Target:
    target = Target()
    positional: list[str] = []
    items = iter(flags)
    for flag in items:
        name, eq, value = flag.partition("=")
        if flag in ("-l", "--selector") or name == "--selector":
            if action not in ("get", "delete"):
                raise SelectorError(f"flag {flag!r}: a selector only with get or delete")
            target.selector = value if eq else next(items, "")
        elif name in _NO_EFFECT:
            target.notes.append(f"flag {flag!r} has no effect through the API")
        elif flag.startswith("-"):
            why = "only TYPE NAME, TYPE/NAME, -l/--selector, --validate are understood"
            raise SelectorError(f"flag {flag!r} is not supported ({why})")
        else:
            positional.append(flag)
    if len(positional) == 1 and "/" in positional[0]:
        positional = positional[0].split("/", 1)
    if len(positional) > 2:
        raise SelectorError(f"flags {' '.join(positional)!r}: expected TYPE [NAME]")
    if positional:
        target.kind = positional[0]
        target.name = positional[1] if len(positional) > 1 else ""
    return target


_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def json_path(obj: Any, template: str) -> str:
    """kubectl's `-o jsonpath=TEMPLATE` over `obj`: text outside `{}` as is, each `{.a.b[0]}`
    replaced by what it finds (several values joined by spaces; a missing field is empty, as
    kubectl's default `--allow-missing-template-keys`)."""
    out: list[str] = []
    pos = 0
    for m in re.finditer(r"\{([^{}]*)\}", template):
        out.append(template[pos : m.start()])
        pos = m.end()
        out.append(" ".join(as_text(v) for v in _select(obj, m.group(1).strip())))
    out.append(template[pos:])
    return "".join(out)


_JQ_PATH = re.compile(r"\.|(\.[A-Za-z_][\w-]*|\[\d+\]|\.\[\d+\])+")


def check_jq(filter_text: str) -> None:
    """Refuse a jq filter beyond a path (`.`, `.a.b`, `.a[0]`): there is no jq here."""
    if not _JQ_PATH.fullmatch(filter_text.strip()):
        why = "only a path such as `.` or `.metadata.name` is understood; use jsonPath"
        raise SelectorError(f"jqFilter {filter_text!r}: {why}")


def jq_path(obj: Any, filter_text: str) -> str:
    """A jq path filter as Argo prints it (`jqFilter`): a string as is, other values as
    compact JSON with sorted keys (Go's `json.Marshal`), `null` when nothing is there."""
    check_jq(filter_text)
    expr = filter_text.strip().replace(".[", "[")
    found = _select(obj, expr)
    if not found:
        return "null"
    value = found[0]
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _select(obj: Any, expr: str) -> list[Any]:
    if expr.startswith("$"):
        expr = expr[1:]
    if expr in ("", "."):
        return [obj]
    found = [obj]
    pos = 0
    while pos < len(expr):
        m = _SEGMENT.match(expr, pos)
        if m is None:
            raise SelectorError(f"JSONPath {{{expr}}}: not supported at {expr[pos:]!r}")
        pos = m.end()
        key = m.group(1) or m.group(3) or m.group(4)
        index = m.group(2)
        nxt: list[Any] = []
        for value in found:
            if key is not None and isinstance(value, dict) and key in value:
                nxt.append(value[key])
            elif index == "*" and isinstance(value, list | dict):
                nxt.extend(value if isinstance(value, list) else value.values())
            elif index not in (None, "*") and isinstance(value, list) and int(index) < len(value):
                nxt.append(value[int(index)])
        found = nxt
    return found
