"""Argo's `when`: govaluate expressions, kept as IR `in` / `notin` guards where they map onto them.

Simple forms (docs/argo-tekton.md, "`when`") become `in` / `notin` guards, which every back end
can express: tests of one `{{...}}` against literals joined with `&&`, `||` between `==` tests
of one value, `!(...)` around one test. Any other `when` is kept whole as a govaluate guard
(`govaluate_guard`): its tags become IR references and `{{=...}}` expressions, its syntax is
checked now (an error names the file and line), and the executor substitutes and evaluates it as
Argo does. Outside the exit handler, `{{tasks.A.status}} == Succeeded` means "A ran and passed"
(a failure stops the IR run): the task waits for A and inherits its guards. A test of another
phase (`{{steps.A.status}} == Failed`, A continuing on failure) becomes a dependency predicate
(`A.Failed`) the task's `depends` requires: where Argo skips the task, the IR omits it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from foredeck.pipeline.argo.fields import at, fail
from foredeck.pipeline.argo.state import Scope
from foredeck.pipeline.argo.tags import TAG, call_text
from foredeck.pipeline.model import ParamSpec, WhenExpression, WhenOperator, govaluate_guard
from foredeck.pipeline.predicates import AnyOf, Is, Not, Outcome, Predicate
from foredeck.types import Source
from foredeck.yamlsrc import SourceMap


@dataclass
class _Atom:
    ref: str  # the Argo tag, without braces
    operator: str  # "in" | "notin"
    values: list[str]


_WHEN_TOKEN = re.compile(
    r"""\s*(?:(?P<tag>\{\{.*?\}\})|(?P<str>"[^"]*"|'[^']*')"""
    r"""|(?P<op>&&|\|\||==|!=|=~|!~|<=|>=|<|>|\(|\)|!|,)|(?P<word>[^\s()!=<>&|,"']+))"""
)


class _WhenSyntax(Exception):
    pass


class _WhenParser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        self.spans: list[tuple[int, int]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _WHEN_TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _WhenSyntax(f"cannot parse near {text[pos:]!r}")
            kind = m.lastgroup or "word"
            self.tokens.append((kind, m.group(kind)))
            self.spans.append(m.span(kind))
            pos = m.end()
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise _WhenSyntax(f"expected {value or 'more'}")
        self.pos += 1
        return token

    def parse(self) -> list[_Atom]:
        atoms = self.expr()
        rest = self.peek()
        if rest is not None:
            raise _WhenSyntax(f"unexpected {rest[1]!r}")
        return atoms

    def expr(self) -> list[_Atom]:
        first = self.term()
        while self.peek() == ("op", "||"):
            self.take()
            other = self.term()
            if (
                len(first) != 1
                or len(other) != 1
                or first[0].operator != "in"
                or other[0].operator != "in"
                or first[0].ref != other[0].ref
            ):
                raise _WhenSyntax("`||` is only supported between `==` tests of one value")
            first = [_Atom(first[0].ref, "in", [*first[0].values, *other[0].values])]
        return first

    def term(self) -> list[_Atom]:
        atoms = self.factor()
        while self.peek() == ("op", "&&"):
            self.take()
            atoms = [*atoms, *self.factor()]
        return atoms

    def factor(self) -> list[_Atom]:
        token = self.peek()
        if token == ("op", "("):
            self.take()
            inner = self.expr()
            self.take(")")
            return inner
        if token == ("op", "!"):
            self.take()
            self.take("(")
            inner = self.expr()
            self.take(")")
            if len(inner) != 1:
                raise _WhenSyntax("`!` is only supported around one test")
            flipped = "notin" if inner[0].operator == "in" else "in"
            return [_Atom(inner[0].ref, flipped, inner[0].values)]
        return [self.comparison()]

    def operand(self) -> tuple[str | None, str]:
        kind, text = self.take()
        glued = (
            self.pos < len(self.tokens) and self.spans[self.pos][0] == self.spans[self.pos - 1][1]
        )
        if kind == "tag" and glued and self.tokens[self.pos][0] in ("word", "tag", "str"):
            raise _WhenSyntax(f"text mixed with a {{{{...}}}} tag near {text!r}")
        tag = TAG.fullmatch(text)
        if kind == "tag" and tag is not None:
            return tag.group(1), text
        if kind == "str":
            inner = text[1:-1]
            m = TAG.fullmatch(inner)
            if m:
                return m.group(1), inner
            if "{{" in inner:
                raise _WhenSyntax(f"text mixed with a {{{{...}}}} tag in {text}")
            return None, inner
        if kind == "word":
            if "{{" in text:
                raise _WhenSyntax(f"text mixed with a {{{{...}}}} tag in {text!r}")
            return None, text
        raise _WhenSyntax(f"unexpected {text!r}")

    def comparison(self) -> _Atom:
        left_ref, left = self.operand()
        kind, op = self.take()
        if op == "in" and kind == "word":
            self.take("(")
            values = [self.literal()]
            while self.peek() == ("op", ","):
                self.take()
                values.append(self.literal())
            self.take(")")
            if left_ref is None:
                raise _WhenSyntax("`in` needs a {{...}} tag on its left")
            return _Atom(left_ref, "in", values)
        if op not in ("==", "!="):
            raise _WhenSyntax(f"operator {op!r} is not supported (only ==, !=, in, &&, ||, !)")
        right_ref, right = self.operand()
        if (left_ref is None) == (right_ref is None):
            raise _WhenSyntax("each test must compare one {{...}} tag with one literal value")
        ref = left_ref if left_ref is not None else right_ref
        value = right if left_ref is not None else left
        return _Atom(ref or "", "in" if op == "==" else "notin", [value])

    def literal(self) -> str:
        ref, text = self.operand()
        if ref is not None:
            raise _WhenSyntax("`in (...)` takes literal values")
        return text


# Argo node phases as Tekton `$(tasks.X.status)` / `$(tasks.status)` values.
_TASK_PHASE = {"Succeeded": ["Succeeded"], "Failed": ["Failed"], "Error": ["Failed"]}
_TASK_PHASE |= {"Skipped": ["None"], "Omitted": ["None"]}
_WORKFLOW_PHASE = {"Succeeded": ["Succeeded", "Completed"], "Failed": ["Failed"]}
_WORKFLOW_PHASE |= {"Error": ["Failed"]}


# Argo node phases as outcomes of the IR's dependency predicates.
_OUTCOME: dict[str, Outcome] = {"Succeeded": "Succeeded", "Failed": "Failed", "Error": "Errored"}
_OUTCOME |= {"Skipped": "Skipped", "Omitted": "Omitted"}


def guards(
    call: SourceMap, scope: Scope, params: Mapping[str, ParamSpec], where: str
) -> tuple[list[WhenExpression], list[Predicate]]:
    """The task's guards, plus the status tests of earlier tasks it waits for, as predicates:
    `{{tasks.A.status}} == Succeeded` is `A.Succeeded`; outside the exit handler any other
    phase test of one task (`{{steps.A.status}} == Failed`, after A's `continueOn`) is the
    predicate of those phases, which the task's `depends` then requires."""
    if "when" not in call:
        return [], []
    text = call["when"]
    source = at(call, "when")
    if not isinstance(text, str):
        raise fail(source, f"{where}: `when` must be a string")
    try:
        atoms = _WhenParser(text).parse()
    except _WhenSyntax:
        return [_expression_guard(text, scope, params, source, where)], []
    out: list[WhenExpression] = []
    waits: list[Predicate] = []
    for atom in _merge_notin(atoms):
        if atom.ref == "item" or atom.ref.startswith("item."):
            raise fail(source, f"{where}: `when` may not depend on {{{{item}}}}")
        status = re.fullmatch(r"(?:tasks|steps)\.([^.]+)\.status", atom.ref)
        if status and not scope.finally_ and status.group(1) in scope.nodes:
            # Outside finally the IR has no task status; but since a failed task stops the
            # run, "A succeeded" is "A ran and was not skipped": wait for A, share its guards.
            node = scope.nodes[status.group(1)]
            if atom.operator == "in" and set(atom.values) == {"Succeeded"}:
                waits.extend(Is(leaf, "Succeeded") for leaf in node.leaves)
                out.extend(w for w in node.whens if w not in out)
                continue
            unknown = [v for v in atom.values if v not in _OUTCOME]
            if node.leaves != [node.task] or node.task is None or unknown:
                message = f"{where}: `when: {text}`: outside the exit handler only a phase "
                message += f"({', '.join(_OUTCOME)}) of one task is supported (use `depends`)"
                raise fail(source, message)
            tests = tuple(Is(node.task, _OUTCOME[v]) for v in atom.values)
            test: Predicate = tests[0] if len(tests) == 1 else AnyOf(tests)
            waits.append(test if atom.operator == "in" else Not(test))
            continue
        out.append(_guard(atom, scope, params, source, where))
    return out, waits


def _guard(
    atom: _Atom, scope: Scope, params: Mapping[str, ParamSpec], source: Source, where: str
) -> WhenExpression:
    """One test as an IR guard; status tests compare the IR's (Tekton's) status words."""
    expr = call_text("{{" + atom.ref + "}}", scope, params, source, f"{where} when")
    values = atom.values
    phases = _WORKFLOW_PHASE if expr == "$(tasks.status)" else None
    if re.fullmatch(r"\$\(tasks\.[^.]+\.status\)", expr):
        phases = _TASK_PHASE
    if phases is not None:
        unknown = [v for v in values if v not in phases]
        if unknown:
            message = f"{where}: `when`: unknown status {unknown[0]!r} for {{{{{atom.ref}}}}}"
            raise fail(source, message)
        values = list(dict.fromkeys(m for v in values for m in phases[v]))
    operator: WhenOperator = "in" if atom.operator == "in" else "notin"
    return WhenExpression(expr, operator, values, source)


def _merge_notin(atoms: list[_Atom]) -> list[_Atom]:
    """`x != a && x != b` is one `notin [a, b]`, as the emitter writes it."""
    merged: list[_Atom] = []
    for atom in atoms:
        same = [m for m in merged if m.operator == "notin" and m.ref == atom.ref]
        if atom.operator == "notin" and same:
            same[0].values = [*same[0].values, *atom.values]
        else:
            merged.append(_Atom(atom.ref, atom.operator, list(atom.values)))
    return merged


_REF = re.compile(r"\$\(\s*[A-Za-z_][^()\s]*?\s*\)")
_STATUS_WORDS = re.compile(r"\$\(tasks(?:\.[^.()\s]+)?\.status\)")


def _argo_words(m: re.Match[str]) -> str:
    """A status as Argo spells it: the IR (Tekton) says `Completed` for a run that succeeded with
    skipped tasks (`{{workflow.status}}` is `Succeeded`) and `None` for a skipped task."""
    ref = m.group(0)
    words = '{"Completed": "Succeeded"}' if ref == "$(tasks.status)" else '{"None": "Skipped"}'
    return f"$(={words}[{ref}] ?? {ref})"


_STATUS = re.compile(r"\$\(tasks\.[^.()\s]+\.(?:status|phase)\)")


def _expression_guard(
    text: str, scope: Scope, params: Mapping[str, ParamSpec], source: Source, where: str
) -> WhenExpression:
    """A `when` beyond the simple forms: one govaluate guard, its syntax checked now."""
    from foredeck.pipeline.exprlang import govaluate  # loaded when a workflow needs it
    from foredeck.pipeline.exprlang.embed import split

    ir = call_text(text, scope, params, source, f"{where} when")
    if not scope.finally_ and _STATUS.search(ir):
        message = f"{where}: `when: {text}`: outside the exit handler a task status can only "
        message += "be tested as `{{tasks.A.status}} == Succeeded` (use `depends`)"
        raise fail(source, message)
    # (only plain tags: a `{{=...}}` reads the variable as it is, and writes back unchanged)
    ir = "".join(
        _STATUS_WORDS.sub(_argo_words, part) if isinstance(part, str) else ir[part.start : part.end]
        for part in split(ir)
    )
    # Values are spliced in as text at run time; a placeholder word stands for each here.
    shape = "".join(part if isinstance(part, str) else "x" for part in split(ir))
    shape = _REF.sub("x", shape)
    for error in govaluate.check(shape):
        raise fail(source, f"{where}: `when: {text}`: {error.message}")
    return govaluate_guard(ir, source)
