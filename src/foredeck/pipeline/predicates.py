"""Dependency predicates: when a task runs, as a boolean over the outcomes of upstream tasks.

Argo's `depends` language is the richest an engine offers, so it is the IR's: `A.Succeeded`,
`A.Failed`, `A.Errored`, `A.Skipped` (its own `when` was false), `A.Omitted` (its own predicate
was false, or a failure upstream kept it from running), `A.Daemoned`, and for a fanned-out
task `A.AnySucceeded` / `A.AllFailed`; joined with `&&`, `||`, `!` and parentheses. A bare `A`
means "A went well enough for its dependents": `A.Succeeded || A.Skipped || A.Daemoned`, plus
`A.Failed` / `A.Errored` when A continues on those (`continueOn`). The bare form is expanded at
parse time, so the tree an executor evaluates has no engine-specific defaults left in it;
`render` folds an expansion back into the bare name. Tekton's `runAfter: [A]` is `A`.

The parser is a small recursive descent with bounded input and depth: no Python `eval`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

Outcome = Literal[
    "Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"
]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
ContinueOn = frozenset[Literal["Failed", "Errored"]]
NO_CONTINUE: ContinueOn = frozenset()
DEFAULT_OUTCOMES: tuple[Outcome, ...] = ("Succeeded", "Skipped", "Daemoned")

MAX_TEXT = 10_000
MAX_DEPTH = 50

_TOKEN = re.compile(r"\s*(?:(?P<op>&&|\|\||!|\(|\))|(?P<term>[A-Za-z0-9_][-A-Za-z0-9_.]*))")


class PredicateError(ValueError):
    """A predicate that does not parse; the message names the position."""


@dataclass(frozen=True)
class Is:
    """`task.outcome`: true once `task` has settled with that outcome."""

    task: str
    outcome: Outcome


@dataclass(frozen=True)
class Not:
    operand: Predicate


@dataclass(frozen=True)
class AllOf:
    operands: tuple[Predicate, ...]


@dataclass(frozen=True)
class AnyOf:
    operands: tuple[Predicate, ...]


Predicate = Is | Not | AllOf | AnyOf


def done(task: str, continue_on: ContinueOn = NO_CONTINUE) -> Predicate:
    """The bare `task`: succeeded, skipped, a daemon, or failed in a way it continues on."""
    outcomes = [*DEFAULT_OUTCOMES, *(o for o in ("Errored", "Failed") if o in continue_on)]
    return AnyOf(tuple(Is(task, outcome) for outcome in outcomes))


def all_done(tasks: list[str], continue_on: Callable[[str], ContinueOn]) -> Predicate:
    """`A && B && ...` of bare names (Argo's `dependencies: [A, B]`)."""
    parts = tuple(done(task, continue_on(task)) for task in tasks)
    return parts[0] if len(parts) == 1 else AllOf(parts)


def tasks_of(predicate: Predicate) -> list[str]:
    """The tasks a predicate reads, in order of first appearance."""
    return list(dict.fromkeys(leaf.task for leaf in _leaves(predicate)))


def _leaves(predicate: Predicate) -> Iterator[Is]:
    if isinstance(predicate, Is):
        yield predicate
    elif isinstance(predicate, Not):
        yield from _leaves(predicate.operand)
    else:
        for operand in predicate.operands:
            yield from _leaves(operand)


def evaluate(predicate: Predicate, outcomes: Mapping[str, frozenset[str]]) -> bool:
    """The predicate's value, given each referenced task's true outcomes (all settled)."""
    if isinstance(predicate, Is):
        return predicate.outcome in outcomes.get(predicate.task, frozenset())
    if isinstance(predicate, Not):
        return not evaluate(predicate.operand, outcomes)
    if isinstance(predicate, AllOf):
        return all(evaluate(p, outcomes) for p in predicate.operands)
    return any(evaluate(p, outcomes) for p in predicate.operands)


def rename(predicate: Predicate, names: Mapping[str, str]) -> Predicate:
    """The predicate with tasks renamed (emitters clean names up)."""
    if isinstance(predicate, Is):
        return Is(names.get(predicate.task, predicate.task), predicate.outcome)
    if isinstance(predicate, Not):
        return Not(rename(predicate.operand, names))
    kind = type(predicate)
    return kind(tuple(rename(p, names) for p in predicate.operands))


def render(predicate: Predicate, continue_on: Callable[[str], ContinueOn] | None = None) -> str:
    """Argo `depends` text; the expansion of a bare name is written as the bare name again."""
    lookup = continue_on or (lambda _: NO_CONTINUE)
    return _render(predicate, lookup, top=True)


def _render(predicate: Predicate, continue_on: Callable[[str], ContinueOn], top: bool) -> str:
    if isinstance(predicate, Is):
        return f"{predicate.task}.{predicate.outcome}"
    if isinstance(predicate, Not):
        return "!" + _render(predicate.operand, continue_on, top=False)
    if isinstance(predicate, AnyOf):
        names = {p.task for p in predicate.operands if isinstance(p, Is)}
        if len(names) == 1:
            (name,) = names
            if predicate == done(name, continue_on(name)):
                return name
    joiner = " && " if isinstance(predicate, AllOf) else " || "
    text = joiner.join(_render(p, continue_on, top=False) for p in predicate.operands)
    return text if top else f"({text})"


def parse(text: str, continue_on: Callable[[str], ContinueOn] | None = None) -> Predicate:
    """Parse Argo `depends` text; `continue_on` tells how each bare name expands."""
    if len(text) > MAX_TEXT:
        raise PredicateError(f"longer than {MAX_TEXT} characters")
    return _Parser(text, continue_on or (lambda _: NO_CONTINUE)).parse()


class _Parser:
    def __init__(self, text: str, continue_on: Callable[[str], ContinueOn]) -> None:
        self.continue_on = continue_on
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        stripped = text.rstrip()
        while pos < len(stripped):
            m = _TOKEN.match(stripped, pos)
            if not m or m.end() == pos:
                column = len(stripped) - len(stripped[pos:].lstrip()) + 1
                raise PredicateError(
                    f"cannot read {stripped[pos:].lstrip()[:20]!r} at column {column}"
                )
            kind = m.lastgroup or "term"
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.pos = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        if self.pos >= len(self.tokens):
            raise PredicateError("unexpected end")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        if not self.tokens:
            raise PredicateError("empty")
        result = self.disjunction()
        if self.pos < len(self.tokens):
            _, text, at = self.tokens[self.pos]
            raise PredicateError(f"unexpected {text!r} at column {at + 1}")
        return result

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() == "||":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() == "&&":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def unary(self) -> Predicate:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise PredicateError(f"nested deeper than {MAX_DEPTH} levels")
        try:
            kind, text, at = self.take()
            if text == "!":
                return Not(self.unary())
            if text == "(":
                inner = self.disjunction()
                if self.peek() != ")":
                    raise PredicateError(f"missing ')' for the '(' at column {at + 1}")
                self.take()
                return inner
            if kind != "term":
                raise PredicateError(f"unexpected {text!r} at column {at + 1}")
            return self.term(text, at)
        finally:
            self.depth -= 1

    def term(self, text: str, at: int) -> Predicate:
        name, dot, outcome = text.rpartition(".")
        if not dot:
            return done(text, self.continue_on(text))
        if outcome not in OUTCOMES:
            known = ", ".join(OUTCOMES)
            raise PredicateError(
                f"unknown task result {outcome!r} at column {at + 1} (known: {known})"
            )
        return Is(name, outcome)  # type: ignore[arg-type]  # checked against OUTCOMES
