"""Tekton's alpha `when: [{cel: ...}]`, for the forms pipelines use, as a govaluate guard.

Tekton substitutes `$(...)` into the CEL text and then evaluates it. The common forms
(quoted strings and references compared with `==` / `!=`, joined by `&&` / `||` / `!`,
and `x in ['a', 'b']`) mean the same in govaluate, the language of the IR's Argo-style
guards (`govaluate_guard`), once a list's brackets become parentheses. Anything else
(functions, fields, macros, arithmetic) is refused at load time rather than guessed at.
"""

from __future__ import annotations

import re

from foredeck.pipeline.model import WhenExpression
from foredeck.types import PipelineError, Source

_MAX_CEL = 4096  # characters; a guard longer than this is not a guard

_TOKEN = re.compile(
    r"""\s+|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|\$\([^()]*\)|==|!=|&&|\|\||!|[()\[\],]"""
    r"""|\b(?:in|true|false)\b|-?\d+(?:\.\d+)?\b"""
)
_REF = re.compile(r"\$\([^()]*\)")
_SUPPORTED = (
    "foredeck supports quoted strings, numbers, true/false and $(...) references compared with "
    "== or !=, joined by &&, || and !, and `x in ['a', 'b']`"
)


def cel_guard(text: str, source: Source, where: str) -> WhenExpression:
    """The IR guard for one CEL `when`; PipelineError naming what is not supported."""
    if len(text) > _MAX_CEL:
        raise PipelineError(source, f"{where}: `cel` is over {_MAX_CEL} characters")
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or not m.group(0):
            found = text[pos : pos + 20]
            message = f"{where}: `cel: {text}`: unsupported at {found!r}; {_SUPPORTED}"
            raise PipelineError(source, message)
        token = m.group(0)
        out.append({"[": "(", "]": ")"}.get(token, token))
        pos = m.end()
    govaluate_text = "".join(out)
    _check(govaluate_text, text, source, where)
    return WhenExpression(govaluate_text, "in", ["true"], source, govaluate=True, cel=text)


def _check(govaluate_text: str, text: str, source: Source, where: str) -> None:
    """Syntax as govaluate sees it, each reference standing in as a name."""
    from foredeck.pipeline.exprlang import govaluate  # loaded when a pipeline needs it

    shape = _REF.sub("x", govaluate_text)
    for error in govaluate.check(shape):
        raise PipelineError(source, f"{where}: `cel: {text}`: {error.message}")
