"""A small, strict renderer for the subset of Go templates (plus Helm functions) the chart uses.

`helm` cannot be installed here, so the tests render the chart with this. It follows Go's
`text/template` where the chart relies on it (trim markers, `if`/`else if`/`else`, `range` over
lists and maps in key order, `with`, `define`/`include`, variables, pipelines, Helm's
`toYaml`/`nindent`/`quote`/`default`/`trim`), and raises on anything else, so the chart cannot
silently use a construct whose Helm behaviour is not mirrored here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<num>-?\d+)
    | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>:=|\(|\)|\|)
    )""",
    re.VERBOSE,
)


class TemplateError(Exception):
    pass


@dataclass
class Node:
    kind: str  # text | action | if | range | with
    text: str = ""
    expr: str = ""
    branches: list[tuple[str, list[Node]]] = field(default_factory=list)
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


def _lex(source: str) -> list[tuple[str, str]]:
    """(kind, content) pieces, kind `text` or `action`, with trim markers applied."""
    pieces: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for m in ACTION.finditer(source):
        text = source[pos : m.start()]
        if trim_next:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        pieces.append(("text", text))
        inner = m.group(2).strip()
        if not (inner.startswith("/*") and inner.endswith("*/")):
            pieces.append(("action", inner))
        trim_next = bool(m.group(3))
        pos = m.end()
    tail = source[pos:]
    pieces.append(("text", tail.lstrip() if trim_next else tail))
    return pieces


def parse(source: str, defines: dict[str, list[Node]]) -> list[Node]:
    pieces = _lex(source)
    index = 0

    def block(stop: tuple[str, ...]) -> tuple[list[Node], str]:
        nonlocal index
        nodes: list[Node] = []
        while index < len(pieces):
            kind, content = pieces[index]
            index += 1
            if kind == "text":
                if content:
                    nodes.append(Node("text", text=content))
                continue
            word = content.split(None, 1)[0] if content else ""
            rest = content[len(word) :].strip()
            if word in stop or (word == "else" and "else" in stop):
                return nodes, content
            if word == "if":
                node = Node("if")
                cond = rest
                while True:
                    body, end = block(("end", "else"))
                    node.branches.append((cond, body))
                    if end == "end":
                        break
                    if end.startswith("else if "):
                        cond = end[len("else if ") :].strip()
                        continue
                    node.orelse, end = block(("end",))
                    break
                nodes.append(node)
            elif word in {"range", "with"}:
                node = Node(word, expr=rest)
                node.body, end = block(("end", "else"))
                if end != "end":
                    node.orelse, _ = block(("end",))
                nodes.append(node)
            elif word == "define":
                name = json.loads(rest)
                defines[name], _ = block(("end",))
            elif word in {"end", "else", "template", "block", "break", "continue"}:
                raise TemplateError(f"unsupported or unbalanced action {{{{ {content} }}}}")
            else:
                nodes.append(Node("action", expr=content))
        if stop:
            raise TemplateError(f"missing {{{{ end }}}} (wanted one of {stop})")
        return nodes, ""

    nodes, _ = block(())
    return nodes


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, dict | list) and not value)


def to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    dumped: str = yaml.safe_dump(value, default_flow_style=False, sort_keys=True, width=1 << 20)
    return dumped.removesuffix("\n").removesuffix("\n...")


def go_quote(value: Any) -> str:
    return json.dumps("" if value is None else _print(value))


def _print(value: Any) -> str:
    if value is None:
        return ""  # Helm replaces "<no value>" with ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise TemplateError(f"printing a {type(value).__name__} needs toYaml: {value!r}")


class Renderer:
    def __init__(self, defines: dict[str, list[Node]]) -> None:
        self.defines = defines
        self.funcs: dict[str, Callable[..., Any]] = {
            "include": lambda name, data: self.render(self.defines[name], data, [{"$": data}]),
            "nindent": lambda n, s: "\n" + _indent(n, s),
            "indent": _indent,
            "toYaml": to_yaml,
            "quote": go_quote,
            "default": lambda d, v=None: v if truthy(v) else d,
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "not": lambda a: not truthy(a),
            "and": lambda *a: next((x for x in a if not truthy(x)), a[-1]),
            "or": lambda *a: next((x for x in a if truthy(x)), a[-1]),
            "printf": _printf,
            "trunc": lambda n, s: s[:n],
            "trimSuffix": lambda suffix, s: s.removesuffix(suffix),
            "trim": lambda s: s.strip(),  # Go strings.TrimSpace
            "required": _required,
            "dict": _dict,
        }

    def render(self, nodes: list[Node], dot: Any, scopes: list[dict[str, Any]]) -> str:
        out: list[str] = []
        scopes = [*scopes, {}]
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                value = self.pipeline(node.expr, dot, scopes)
                if value is not _ASSIGNED:
                    out.append(_print(value))
            elif node.kind == "if":
                for cond, body in node.branches:
                    if truthy(self.pipeline(cond, dot, scopes)):
                        out.append(self.render(body, dot, scopes))
                        break
                else:
                    out.append(self.render(node.orelse, dot, scopes))
            elif node.kind == "with":
                value = self.pipeline(node.expr, dot, scopes)
                body = node.body if truthy(value) else node.orelse
                out.append(self.render(body, value if truthy(value) else dot, scopes))
            elif node.kind == "range":
                out.append(self._range(node, dot, scopes))
        return "".join(out)

    def _range(self, node: Node, dot: Any, scopes: list[dict[str, Any]]) -> str:
        names: list[str] = []
        expr = node.expr
        if ":=" in expr:
            left, expr = expr.split(":=", 1)
            names = [n.strip() for n in left.split(",")]
        value = self.pipeline(expr.strip(), dot, scopes)
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif value is None:
            items = []
        else:
            raise TemplateError(f"cannot range over {type(value).__name__}")
        if not items:
            return self.render(node.orelse, dot, scopes)
        out = []
        for key, item in items:
            local = {names[-1]: item} if names else {}
            if len(names) == 2:
                local[names[0]] = key
            out.append(self.render(node.body, item, [*scopes, local]))
        return "".join(out)

    # -- expressions ---------------------------------------------------------------------------

    def pipeline(self, expr: str, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        tokens = _tokens(expr)
        if len(tokens) > 2 and tokens[1] == ("punct", ":="):
            name = tokens[0][1]
            scopes[-1][name] = self._eval_tokens(tokens[2:], dot, scopes)
            return _ASSIGNED
        return self._eval_tokens(tokens, dot, scopes)

    def _eval_tokens(self, tokens: list[tuple[str, str]], dot: Any, scopes: list[Any]) -> Any:
        commands: list[list[tuple[str, str]]] = [[]]
        depth = 0
        for tok in tokens:
            if tok == ("punct", "(") or tok == ("punct", ")"):
                depth += 1 if tok[1] == "(" else -1
            if tok == ("punct", "|") and depth == 0:
                commands.append([])
            else:
                commands[-1].append(tok)
        value: Any = _NOTHING
        for command in commands:
            value = self._command(command, dot, scopes, value)
        return value

    def _command(self, toks: list[tuple[str, str]], dot: Any, scopes: list[Any], piped: Any) -> Any:
        if not toks:
            raise TemplateError("empty command")
        args: list[Any] = []
        i = 1 if toks[0][0] == "ident" and toks[0][1] not in {"true", "false", "nil"} else 0
        while i < len(toks):
            kind, text = toks[i]
            if (kind, text) == ("punct", "("):
                depth, j = 1, i + 1
                while depth:
                    depth += {"(": 1, ")": -1}.get(toks[j][1] if toks[j][0] == "punct" else "", 0)
                    j += 1
                args.append(self._eval_tokens(toks[i + 1 : j - 1], dot, scopes))
                i = j
                continue
            args.append(self._operand(kind, text, dot, scopes))
            i += 1
        if piped is not _NOTHING:
            args.append(piped)
        if toks[0][0] == "ident" and toks[0][1] not in {"true", "false", "nil"}:
            func = self.funcs.get(toks[0][1])
            if func is None:
                raise TemplateError(f"function {toks[0][1]!r} is not supported")
            return func(*args)
        if len(args) != 1:
            raise TemplateError(f"cannot call a non-function: {toks}")
        return args[0]

    def _operand(self, kind: str, text: str, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        if kind == "str":
            return json.loads(text)
        if kind == "num":
            return int(text)
        if kind == "ident":
            return {"true": True, "false": False, "nil": None}[text]
        if kind == "field":
            return _walk(dot, text.strip(".").split(".") if text != "." else [])
        if kind == "var":
            name, *path = text.split(".")
            for scope in reversed(scopes):
                if name in scope:
                    return _walk(scope[name], path)
            raise TemplateError(f"undefined variable {name}")
        raise TemplateError(f"unexpected {text!r}")


_ASSIGNED = object()
_NOTHING = object()


def _tokens(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"cannot parse {expr[pos:]!r} in {expr!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return tokens


def _walk(value: Any, path: list[str]) -> Any:
    for part in path:
        if value is None:
            raise TemplateError(f"nil pointer evaluating .{part}")
        if not isinstance(value, dict):
            raise TemplateError(f"cannot read .{part} of a {type(value).__name__}")
        value = value.get(part)
    return value


def _indent(n: int, s: str) -> str:
    pad = " " * n
    return "\n".join(pad + line for line in str(s).split("\n"))


def _printf(fmt: str, *args: Any) -> str:
    return re.sub(r"%[sdv]", "{}", fmt).format(*(_print(a) for a in args))


def _dict(*pairs: Any) -> dict[str, Any]:
    if len(pairs) % 2:
        raise TemplateError("dict needs key/value pairs")
    return {str(pairs[i]): pairs[i + 1] for i in range(0, len(pairs), 2)}


def _required(message: str, value: Any) -> Any:
    if not truthy(value):
        raise TemplateError(message)
    return value


def render_chart(
    templates: dict[str, str], helpers: list[str], context: dict[str, Any]
) -> dict[str, str]:
    """Render each template (name -> source) with the `define`s of `helpers` and the others."""
    defines: dict[str, list[Node]] = {}
    for source in helpers:
        parse(source, defines)
    parsed = {name: parse(source, defines) for name, source in templates.items()}
    renderer = Renderer(defines)
    return {
        name: renderer.render(nodes, context, [{"$": context}]) for name, nodes in parsed.items()
    }
