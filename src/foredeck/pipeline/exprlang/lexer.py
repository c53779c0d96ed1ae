"""Tokens of expr-lang (https://expr-lang.org/docs/language-definition), Argo's `{{=...}}`.

Two dialects share the lexer: Argo's, where variables are names (`inputs.parameters.x`), and the
IR's, where the front end has replaced each variable with the IR reference it resolves to
(`$(params.x)`, see `embed.py`), lexed as one `ref` token so that validation, dependency
inference and the emitters see the same `$(...)` references as in any other value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.limits import MAX_TEXT

Kind = Literal["num", "str", "name", "op", "ref", "pointer", "eof"]


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # the source text (for `str`: the decoded value)
    pos: int
    end: int
    value: object = None  # numbers: int or float


_OPERATORS = sorted(
    ["?.", "??", "..", "==", "!=", "<=", ">=", "&&", "||", "**", *"+-*/%^<>!?:.,()[]{};|="],
    key=len,
    reverse=True,
)
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(?:[0-9][0-9_]*)?(?:\.(?!\.)[0-9_]*)?(?:[eE][+-]?[0-9]+)?"
)
_REF = re.compile(r"\$\(\s*([A-Za-z_][^()\s]*?)\s*\)")
_POINTER = re.compile(r"#[A-Za-z_]*")
_SPACE = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)+", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_ESCAPES |= {"\\": "\\", '"': '"', "'": "'", "`": "`"}


def _string(text: str, pos: int) -> tuple[str, int]:
    """A quoted string starting at `pos`: its value and the offset after it."""
    quote = text[pos]
    if quote == "`":
        end = text.find("`", pos + 1)
        if end < 0:
            raise ExprError("unterminated string", pos)
        return text[pos + 1 : end], end + 1
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        c = text[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\n":
            break
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        e = text[i : i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 1
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(e)
        digits = text[i + 1 : i + 1 + width] if width else text[i : i + 3]
        base = 16 if width else 8
        try:
            code = int(digits, base)
            if len(digits) != (width or 3):
                raise ValueError
            out.append(chr(code))
        except ValueError:
            raise ExprError("invalid escape in string", i - 1) from None
        i += 1 + width if width else 3
    raise ExprError("unterminated string", pos)


def _number(text: str, m: re.Match[str]) -> object:
    raw = m.group(0).replace("_", "")
    if raw[:2].lower() in ("0x", "0o", "0b"):
        return int(raw, 0)
    if any(c in raw for c in ".eE"):
        return float(raw)
    return int(raw)


def tokenize(
    text: str, *, refs: bool = False, start: int = 0, stop_at_close: bool = False
) -> list[Token]:
    """The tokens of `text` from `start`, ending with an `eof` token.

    `refs`: accept the IR's `$(...)` references. `stop_at_close`: stop at a `)` that closes no
    bracket opened here (how an embedded `$(= ...)` ends); the `eof` token then sits on it.
    """
    if not stop_at_close and len(text) - start > MAX_TEXT:
        raise ExprError(f"expression longer than {MAX_TEXT} characters", start)
    tokens: list[Token] = []
    depth = 0
    pos = start
    while True:
        m = _SPACE.match(text, pos)
        if m:
            pos = m.end()
        if pos - start > MAX_TEXT:
            raise ExprError(f"expression longer than {MAX_TEXT} characters", start)
        if pos >= len(text):
            if stop_at_close:
                raise ExprError("unterminated $(= ...) expression", start)
            break
        c = text[pos]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0 and stop_at_close and c == ")":
                break
            depth -= 1
        if refs and text.startswith("$(", pos):
            r = _REF.match(text, pos)
            if r is None:
                raise ExprError("malformed $(...) reference", pos)
            tokens.append(Token("ref", r.group(1), pos, r.end()))
            pos = r.end()
            continue
        if c in "\"'`":
            value, end = _string(text, pos)
            tokens.append(Token("str", value, pos, end, value))
            pos = end
            continue
        after_value = bool(tokens) and (
            tokens[-1].kind not in ("op", "name") or tokens[-1].text in ")]}"
        )
        if c.isdigit() or (c == "." and text[pos + 1 : pos + 2].isdigit() and not after_value):
            n = _NUMBER.match(text, pos)
            assert n is not None
            tokens.append(Token("num", n.group(0), pos, n.end(), _number(text, n)))
            pos = n.end()
            continue
        if c == "#":
            p = _POINTER.match(text, pos)
            assert p is not None
            tokens.append(Token("pointer", p.group(0)[1:], pos, p.end()))
            pos = p.end()
            continue
        name = _NAME.match(text, pos)
        if name:
            tokens.append(Token("name", name.group(0), pos, name.end()))
            pos = name.end()
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, pos)), None)
        if op is None:
            raise ExprError(f"unexpected character {c!r}", pos)
        tokens.append(Token("op", op, pos, pos + len(op)))
        pos += len(op)
    tokens.append(Token("eof", "", pos, pos))
    return tokens
