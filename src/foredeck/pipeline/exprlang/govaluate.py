"""Argo's `when`: a govaluate expression (github.com/Knetic/govaluate), as Argo evaluates it.

Argo first substitutes the `{{...}}` tags of a `when` as text, then parses the result with
govaluate and turns every variable token into a string (so `heads == heads` compares two
strings); the result must be a bool. Numbers are float64; `==` needs equal types (`5 == "5"`
is false); `+` concatenates when either side is a string; `=~` / `!~` match a regular
expression (RE2, as Go); `in` tests membership in `(a, b, ...)`. Not supported: govaluate's
date strings (compared as the strings they are) and its bitwise operators on non-integers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.limits import MAX_DEPTH, MAX_TEXT, Budget, check_size
from foredeck.pipeline.exprlang.regexes import regex
from foredeck.pipeline.exprlang.values import go_float

_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<num>0x[0-9a-fA-F]+|[0-9][0-9.]*)"""
    r"""|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<esc>\[[^\]]*\])"""
    r"""|(?P<word>[^\W\d][\w.]*)"""
    r"""|(?P<op>\*\*|<<|>>|==|!=|>=|<=|=~|!~|&&|\|\||\?\?|[-+*/%&|^~!<>?:(),])""",
    re.S,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # "value", "op", "eof"
    text: str
    value: Any
    pos: int


def tokenize(text: str) -> list[_Tok]:
    if len(text) > MAX_TEXT:
        raise ExprError(f"`when` longer than {MAX_TEXT} characters")
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            hint = " (hint: try wrapping the affected expression in quotes)"
            raise ExprError(f"invalid token {text[pos]!r}{hint}", pos)
        kind, raw = m.lastgroup or "", m.group(0)
        if kind == "num":
            try:
                number = float(int(raw, 16)) if raw.startswith("0x") else float(raw)
            except ValueError:
                raise ExprError(f"unable to parse numeric value {raw!r}", pos) from None
            tokens.append(_Tok("value", raw, number, pos))
        elif kind == "str":
            tokens.append(_Tok("value", raw, re.sub(r"\\(.)", r"\1", raw[1:-1], flags=re.S), pos))
        elif kind in ("word", "esc"):
            word = raw.strip("[]") if kind == "esc" else raw
            if word in ("true", "false"):
                tokens.append(_Tok("value", raw, word == "true", pos))
            elif word == "in":
                tokens.append(_Tok("op", "in", None, pos))
            else:  # Argo: a variable is the string of its name
                tokens.append(_Tok("value", raw, word, pos))
        elif kind == "op":
            tokens.append(_Tok("op", raw, None, pos))
        pos = m.end()
    tokens.append(_Tok("eof", "", None, len(text)))
    return tokens


_LEVELS: list[tuple[str, ...]] = [
    ("||",),
    ("&&",),
    ("==", "!=", ">", ">=", "<", "<=", "=~", "!~", "in"),
    ("&", "|", "^"),
    ("<<", ">>"),
    ("+", "-"),
    ("*", "/", "%"),
    ("**",),
]

Tree = tuple[Any, ...]  # ("lit", value) | ("list", [trees]) | (op, left, right) | ("neg", ...)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        token = self.tokens[self.i]
        self.i += token.kind != "eof"
        return token

    def parse(self) -> Tree:
        if self.tok.kind == "eof":
            raise ExprError("empty `when` expression", 0)
        tree = self.ternary()
        if self.tok.kind != "eof":
            raise ExprError(f"unexpected {self.tok.text!r}", self.tok.pos)
        return tree

    def ternary(self) -> Tree:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"`when` nested deeper than {MAX_DEPTH}", self.tok.pos)
        tree = self.level(0)
        if self.tok.text == "??":
            self.take()
            tree = ("??", tree, self.ternary())
        elif self.tok.text == "?":
            self.take()
            then = self.ternary()
            other: Tree = ("lit", None)
            if self.tok.text == ":":
                self.take()
                other = self.ternary()
            tree = ("?", tree, then, other)
        self.depth -= 1
        return tree

    def level(self, n: int) -> Tree:
        if n == len(_LEVELS):
            return self.prefix()
        left = self.level(n + 1)
        while self.tok.kind == "op" and self.tok.text in _LEVELS[n]:
            op = self.take()
            right = self.level(n + 1)
            left = (op.text, left, right, op.pos)
        return left

    def prefix(self) -> Tree:
        token = self.tok
        if token.kind == "op" and token.text in ("-", "!", "~"):
            self.take()
            return ("prefix:" + token.text, self.prefix(), token.pos)
        return self.primary()

    def primary(self) -> Tree:
        token = self.take()
        if token.kind == "value":
            return ("lit", token.value)
        if token.text == "(":
            items = [self.ternary()]
            while self.tok.text == ",":
                self.take()
                items.append(self.ternary())
            if self.take().text != ")":
                raise ExprError("unbalanced parenthesis", token.pos)
            return items[0] if len(items) == 1 else ("list", items)
        found = token.text or "end of expression"
        raise ExprError(f"unexpected {found!r}", token.pos)


def parse(text: str) -> Tree:
    try:
        return _Parser(text).parse()
    except RecursionError:  # `!!!!...x`
        raise ExprError("`when` nested too deeply", 0) from None


def check(text: str) -> list[ExprError]:
    """Syntax errors of a `when` (as Argo reports them before running anything)."""
    try:
        parse(text)
    except ExprError as exc:
        return [exc]
    return []


def _num(value: Any, op: str, pos: int) -> float:
    if isinstance(value, bool) or not isinstance(value, float):
        why = f"value {_show(value)} cannot be used with the operator '{op}', it is not a number"
        raise ExprError(why, pos)
    return value


def _show(value: Any) -> str:
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _text(value: Any) -> str:
    return _show(value) if not isinstance(value, str) else value


def evaluate_tree(tree: Tree, budget: Budget) -> Any:
    budget.tick()
    op = tree[0]
    if op == "lit":
        return tree[1]
    if op == "list":
        return [evaluate_tree(t, budget) for t in tree[1]]
    if op.startswith("prefix:"):
        value = evaluate_tree(tree[1], budget)
        if op == "prefix:!":
            if not isinstance(value, bool):
                raise ExprError(
                    f"value {_show(value)} cannot be negated, it is not a bool", tree[2]
                )
            return not value
        number = _num(value, op[-1], tree[2])
        return -number if op == "prefix:-" else float(~int(number))
    if op == "?":
        test = evaluate_tree(tree[1], budget)
        if not isinstance(test, bool):
            raise ExprError(f"ternary condition {_show(test)} is not a bool")
        return evaluate_tree(tree[2] if test else tree[3], budget)
    left = evaluate_tree(tree[1], budget)
    if op == "??":
        return evaluate_tree(tree[2], budget) if left is None else left
    pos = tree[3]
    if op in ("&&", "||"):
        if not isinstance(left, bool):
            why = f"value {_show(left)} cannot be used with '{op}', it is not a bool"
            raise ExprError(why, pos)
        if left == (op == "||"):
            return left
        right = evaluate_tree(tree[2], budget)
        if not isinstance(right, bool):
            why = f"value {_show(right)} cannot be used with '{op}', it is not a bool"
            raise ExprError(why, pos)
        return right
    return _binary(op, left, evaluate_tree(tree[2], budget), pos)


def _binary(op: str, left: Any, right: Any, pos: int) -> Any:
    if op == "==":
        return type(left) is type(right) and left == right
    if op == "!=":
        return not (type(left) is type(right) and left == right)
    if op == "in":
        if not isinstance(right, list):
            raise ExprError("the right of 'in' must be a list like (a, b)", pos)
        return any(type(left) is type(item) and left == item for item in right)
    if op in (">", ">=", "<", "<="):
        if not (isinstance(left, str) and isinstance(right, str)):
            left, right = _num(left, op, pos), _num(right, op, pos)
        return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]
    if op in ("=~", "!~"):
        if not (isinstance(left, str) and isinstance(right, str)):
            raise ExprError(f"operator '{op}' needs strings on both sides", pos)
        found = regex(right).search(left) is not None
        return found if op == "=~" else not found
    if op == "+" and (isinstance(left, str) or isinstance(right, str)):
        return check_size(_text(left) + _text(right))
    a, b = _num(left, op, pos), _num(right, op, pos)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if b else (math.copysign(math.inf, a) if a else math.nan)
    if op == "%":
        return math.fmod(a, b) if b else math.nan
    if op == "**":
        try:
            return math.pow(a, b)
        except (OverflowError, ValueError):
            return math.inf
    ia, ib = int(a), int(b)
    bits = {"&": ia & ib, "|": ia | ib, "^": ia ^ ib}
    if op in bits:
        return float(bits[op])
    if ib < 0 or ib > 63:
        raise ExprError(f"shift count {ib} out of range", pos)
    return float(ia << ib if op == "<<" else ia >> ib)


def evaluate(text: str, budget: Budget | None = None) -> bool:
    """The truth of a `when` whose tags are already substituted (Argo's `shouldExecute`)."""
    try:
        result = evaluate_tree(parse(text), budget or Budget())
    except RecursionError:
        raise ExprError("`when` nested too deeply") from None
    if not isinstance(result, bool):
        raise ExprError(f"expected a boolean result for {text!r}, got {_show(result)}")
    return result
