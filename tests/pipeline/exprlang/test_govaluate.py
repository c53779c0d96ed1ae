"""Argo's `when` language (govaluate, with every variable read as a string, as Argo does)."""

from __future__ import annotations

import pytest

from foredeck.pipeline.exprlang.errors import ExprError
from foredeck.pipeline.exprlang.govaluate import check, evaluate


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("heads == heads", True),
        ("heads == tails", False),
        ("Succeeded != Failed", True),
        ("'a b' == \"a b\"", True),
        ("5 == 5.0", True),
        ("5 == '5'", False),  # types must match
        ("10 > 9", True),
        ("'10' > '9'", False),  # strings compare as strings
        ("2 + 3 * 4 == 14", True),
        ("(2 + 3) * 4 == 20", True),
        ("2 ** 3 == 8", True),
        ("-1 < 0 && !(1 > 2)", True),
        ("true || 1 > 'x'", True),  # short-circuit: the right side is not evaluated
        ("false && 1 > 'x'", False),
        ("'abc-123' =~ '^abc-[0-9]+$'", True),
        ("'abc' !~ 'x'", True),
        ("3 in (1, 2, 3)", True),
        ("c in (a, b)", False),
        ("'a' + 1 == 'a1'", True),
        ("1 > 0 ? true : false", True),
        ("[weird name] == 'weird name'", True),
        ("'it\\'s' == \"it's\"", True),
        ("7 % 4 == 3 && 7 / 2 == 3.5", True),
        ("(1 | 2) == 3 && (1 << 3) == 8", True),
    ],
)
def test_when_values(text: str, value: bool) -> None:
    assert evaluate(text) is value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 + 1", "expected a boolean result"),
        ("heads > 1", "cannot be used with the operator '>', it is not a number"),
        ("1 && true", "cannot be used with '&&', it is not a bool"),
        ("'a' =~ '('", "invalid regular expression"),
        ("my-value == x", "it is not a number"),  # Argo needs hyphenated text quoted
    ],
)
def test_when_run_time_errors(text: str, message: str) -> None:
    with pytest.raises(ExprError, match=message):
        evaluate(text)


@pytest.mark.parametrize(
    ("text", "message", "pos"),
    [
        ("a == ", "unexpected 'end of expression'", 5),
        ("(a == b", "unbalanced parenthesis", 0),
        ("a == b)", "unexpected ')'", 6),
        ("a == {{x}}", "invalid token '{'", 5),
        ("1.2.3 == x", "unable to parse numeric value", 0),
        ("f(x) == 1", "unexpected '('", 1),
        ("", "empty", 0),
    ],
)
def test_when_syntax_errors_name_their_offset(text: str, message: str, pos: int) -> None:
    errors = check(text)
    assert len(errors) == 1 and message in errors[0].message and errors[0].pos == pos


def test_regular_expressions_match_in_linear_time() -> None:
    """RE2, as Go's regexp: a pattern that backtracks exponentially in Python's `re` is instant."""
    subject = "a" * 5000 + "!"
    assert evaluate(f"'{subject}' =~ '(a+)+$'") is False
    # govaluate strings unescape `\\` to `\`: the pattern is `^\pL\d$` (Go's Unicode classes)
    assert evaluate(r"'x1' =~ '^\\pL\\d$'") is True


def test_pathological_nesting_in_a_when_is_an_error_not_a_crash() -> None:
    assert "nested" in check("!" * 5000 + "true")[0].message
    assert "nested" in check("(" * 500 + "true" + ")" * 500)[0].message
