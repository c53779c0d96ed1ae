"""Arbitrary input never crashes the expression languages: every failure is an `ExprError`."""

from __future__ import annotations

import contextlib
import random

from foredeck.pipeline.exprlang import govaluate
from foredeck.pipeline.exprlang.api import ExprError, check, evaluate

_PIECES = [
    "1", "2.5", ".5", "'a'", '"b\\n"', "`r`", "x", "x.y", "x['k']", "[1, 2]", "{a: 1}", "nil",
    "true", "(", ")", "[", "]", "{", "}", ",", ":", "?", "??", "?.", "..", "+", "-", "*", "/",
    "%", "**", "==", "!=", "<", ">=", "&&", "||", "!", "not", "in", "matches", "contains",
    "#", "#index", ".", "|", "let", "=", ";", "len(", "filter(", "map(", "sprig.trim(",
    "asInt(", "jsonpath(", "upper(", "$(params.p)", "=~", "!~",
]  # fmt: skip


def _programs(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)  # fixed seeds: the same programs on every run
    return [" ".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12))) for _ in range(count)]


def test_random_expressions_fail_only_with_expr_errors() -> None:
    env = {"x": {"y": "v", "k": [1]}}
    for text in _programs(7, 3000):
        for refs in (False, True):
            errors = check(text, refs=refs)
            assert all(isinstance(e, ExprError) for e in errors)
            if errors:
                continue
            with contextlib.suppress(ExprError):  # a run-time error is an answer too
                evaluate(text, env, resolve={"params.p": "3"}.get, refs=refs)


def test_random_whens_fail_only_with_expr_errors() -> None:
    for text in _programs(11, 3000):
        if govaluate.check(text):
            continue
        with contextlib.suppress(ExprError):
            govaluate.evaluate(text)
