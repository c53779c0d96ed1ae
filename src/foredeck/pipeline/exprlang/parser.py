"""A Pratt parser for expr-lang, with the operator precedences of expr-lang's own parser.

It builds `nodes.py` trees and knows nothing of functions: `check.py` decides which names are
callable, so that an unknown function is reported with the rest of the load-time checks.
"""

from __future__ import annotations

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.lexer import Token, tokenize
from foredeck.pipeline.exprlang.limits import MAX_DEPTH
from foredeck.pipeline.exprlang.nodes import (
    ArrayLit,
    Binary,
    Call,
    Closure,
    Cond,
    Let,
    Lit,
    Local,
    MapLit,
    Member,
    Node,
    Pointer,
    Ref,
    Slice,
    Unary,
    Var,
)

BINARY = {"or": 10, "||": 10, "and": 15, "&&": 15, "..": 25, "+": 30, "-": 30}
BINARY |= dict.fromkeys(["==", "!=", "<", ">", "<=", ">=", "in", "matches"], 20)
BINARY |= dict.fromkeys(["contains", "startsWith", "endsWith"], 20)
BINARY |= {"*": 60, "/": 60, "%": 60, "**": 100, "^": 100, "??": 500}
_RIGHT = {"**", "^"}
_NEGATABLE = {"in", "matches", "contains", "startsWith", "endsWith"}
_UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
_KEYWORDS = {"true": True, "false": False, "nil": None}
PREDICATES = frozenset(
    {"all", "any", "none", "one", "filter", "map", "count", "find", "findIndex", "findLast"}
    | {"findLastIndex", "groupBy", "sortBy", "reduce", "sum"}
)
"""Builtins whose second argument is a predicate (a closure over `#`)."""


class Parser:
    def __init__(self, text: str, *, refs: bool = False) -> None:
        self.text = text
        self.tokens = tokenize(text, refs=refs)
        self.i = 0
        self.depth = 0
        self.closures = 0
        self.piped = False  # the call being parsed gets its first argument from `|`
        self.locals: list[str] = []

    # -- tokens -------------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "eof":
            self.i += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def expect(self, kind: str, text: str) -> Token:
        if not self.at(kind, text):
            found = self.tok.text or "end of expression"
            raise ExprError(f"expected {text!r}, found {found!r}", self.tok.pos)
        return self.next()

    def _is(self, index: int, kind: str, text: str) -> bool:
        return self.tokens[index].kind == kind and self.tokens[index].text == text

    def is_op(self, text: str) -> bool:
        return self.tok.kind in ("op", "name") and self.tok.text == text

    # -- grammar ------------------------------------------------------------------------------

    def parse(self) -> Node:
        if self.at("eof"):
            raise ExprError("empty expression", self.tok.pos)
        node = self.expression()
        if not self.at("eof"):
            raise ExprError(f"unexpected {self.tok.text!r}", self.tok.pos)
        return node

    def expression(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_DEPTH}", self.tok.pos)
        try:
            if self.at("name", "let"):
                return self.let()
            node = self.binary(0)
            if self.is_op("?"):
                self.next()
                then = self.expression()
                self.expect("op", ":")
                other = self.expression()
                node = Cond(node.pos, other.end, node, then, other)
            return node
        finally:
            self.depth -= 1

    def let(self) -> Node:
        start = self.next().pos
        name = self.next()
        if name.kind != "name":
            raise ExprError("`let` needs a name", name.pos)
        self.expect("op", "=")
        value = self.expression()
        self.expect("op", ";")
        self.locals.append(name.text)
        try:
            body = self.expression()
        finally:
            self.locals.pop()
        return Let(start, body.end, name.text, value, body)

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            token = self.tok
            if token.kind == "op" and token.text == "|" and min_prec == 0:
                self.next()
                self.piped = True
                call = self.postfix(self.primary())
                self.piped = False
                if not isinstance(call, Call):
                    raise ExprError("the right of `|` must be a function call", call.pos)
                left = Call(left.pos, call.end, call.name, (left, *call.args))
                continue
            negate = False
            op = token.text if token.kind in ("op", "name") else ""
            after = self.tokens[min(self.i + 1, len(self.tokens) - 1)]
            if op == "not" and after.kind == "name" and after.text in _NEGATABLE:
                negate, op = True, self.tokens[self.i + 1].text
            prec = BINARY.get(op)
            if prec is None or prec <= min_prec:
                return left
            self.next()
            if negate:
                self.next()
            right = self.binary(prec - 1 if op in _RIGHT else prec)
            left = Binary(left.pos, right.end, op, left, right)
            if negate:
                left = Unary(left.pos, right.end, "not", left)

    def unary(self) -> Node:
        token = self.tok
        if token.kind in ("op", "name") and token.text in _UNARY:
            self.next()
            operand = self.binary(_UNARY[token.text])
            return Unary(token.pos, operand.end, token.text, operand)
        return self.postfix(self.primary())

    def primary(self) -> Node:
        token = self.next()
        if token.kind == "num" or token.kind == "str":
            return Lit(token.pos, token.end, token.value)
        if token.kind == "ref":
            return Ref(token.pos, token.end, token.text)
        if token.kind == "pointer":
            if not self.closures:
                raise ExprError(f"#{token.text} outside a predicate", token.pos)
            return Pointer(token.pos, token.end, token.text)
        if token.kind == "name":
            return self.name(token)
        if token.text == "(":
            inner = self.expression()
            self.expect("op", ")")
            return inner
        if token.text == "[":
            items = self.sequence("]")
            return ArrayLit(token.pos, self.tokens[self.i - 1].end, tuple(items))
        if token.text == "{":
            return self.map_literal(token)
        if token.text == "." and self.closures and self.tok.kind == "name":
            key = self.next()
            element = Pointer(token.pos, token.pos + 1, "")
            return Member(token.pos, key.end, element, Lit(key.pos, key.end, key.text))
        found = token.text or "end of expression"
        raise ExprError(f"unexpected {found!r}", token.pos)

    def name(self, token: Token) -> Node:
        if token.text in _KEYWORDS:
            return Lit(token.pos, token.end, _KEYWORDS[token.text])
        if token.text in BINARY or token.text in ("let", "not"):
            raise ExprError(f"unexpected {token.text!r}", token.pos)
        dotted = token.text
        end = token.end
        if token.text not in self.locals:
            # `sprig.trim(...)`: a dotted name followed by `(` is a function of the environment
            j = self.i
            while self._is(j, "op", ".") and self.tokens[j + 1].kind == "name":
                j += 2
            if self._is(j, "op", "("):
                while self.i < j:
                    self.next()
                    dotted += "." + self.next().text
                return self.call(token, dotted)
            return Var(token.pos, end, token.text)
        return Local(token.pos, end, token.text)

    def call(self, token: Token, name: str) -> Node:
        self.expect("op", "(")
        closure_at = 0 if self.piped else 1
        self.piped = False
        args: list[Node] = []
        while not self.is_op(")"):
            if args:
                self.expect("op", ",")
            if len(args) == closure_at and name in PREDICATES:
                args.append(self.closure())
            else:
                args.append(self.expression())
        end = self.next().end
        return Call(token.pos, end, name, tuple(args))

    def closure(self) -> Node:
        start = self.tok.pos
        self.closures += 1
        try:
            if self.is_op("{"):
                self.next()
                body = self.expression()
                self.expect("op", "}")
            else:
                body = self.expression()
        finally:
            self.closures -= 1
        return Closure(start, self.tokens[self.i - 1].end, body)

    def sequence(self, close: str) -> list[Node]:
        items: list[Node] = []
        while not self.is_op(close):
            if items:
                self.expect("op", ",")
                if self.is_op(close):  # trailing comma
                    break
            items.append(self.expression())
        self.next()
        return items

    def map_literal(self, token: Token) -> Node:
        pairs: list[tuple[Node, Node]] = []
        while not self.is_op("}"):
            if pairs:
                self.expect("op", ",")
                if self.is_op("}"):
                    break
            key_token = self.tok
            if key_token.kind in ("name", "str", "num"):
                self.next()
                key: Node = Lit(key_token.pos, key_token.end, key_token.text)
            elif self.is_op("("):
                self.next()
                key = self.expression()
                self.expect("op", ")")
            else:
                raise ExprError("a map key must be a name, a string or (expression)", key_token.pos)
            self.expect("op", ":")
            pairs.append((key, self.expression()))
        end = self.next().end
        return MapLit(token.pos, end, tuple(pairs))

    def postfix(self, node: Node) -> Node:
        while True:
            if self.is_op(".") or self.is_op("?."):
                optional = self.next().text == "?."
                key = self.next()
                if key.kind != "name":
                    raise ExprError("expected a name after `.`", key.pos)
                node = Member(node.pos, key.end, node, Lit(key.pos, key.end, key.text), optional)
            elif self.is_op("["):
                node = self.index(node)
            else:
                return node

    def index(self, node: Node) -> Node:
        self.next()
        low: Node | None = None
        if not self.is_op(":"):
            low = self.expression()
            if self.is_op("]"):
                end = self.next().end
                return Member(node.pos, end, node, low)
        self.expect("op", ":")
        high = None if self.is_op("]") else self.expression()
        end = self.expect("op", "]").end
        return Slice(node.pos, end, node, low, high)


def parse(text: str, *, refs: bool = False) -> Node:
    """The tree of `text` (raises `ExprError` with the offset of a syntax error)."""
    try:
        return Parser(text, refs=refs).parse()
    except RecursionError:  # `- - - ... 1` or `2 ** 2 ** ...`: too deep for the parser
        raise ExprError("expression nested too deeply", 0) from None
