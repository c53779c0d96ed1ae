"""The expr-lang lexer and parser: tokens, string escapes, precedence, and errors with offsets."""

from __future__ import annotations

import pytest

from foredeck.pipeline.exprlang.api import ExprError, check, evaluate
from foredeck.pipeline.exprlang.lexer import tokenize
from foredeck.pipeline.exprlang.nodes import Binary, Call, Lit, Ref
from foredeck.pipeline.exprlang.parser import parse


def test_tokens_keep_their_offsets_and_values() -> None:
    tokens = tokenize("a.b + 0x1F >= 1_000.5 ?? 'x'")
    assert [(t.kind, t.text, t.pos) for t in tokens] == [
        ("name", "a", 0),
        ("op", ".", 1),
        ("name", "b", 2),
        ("op", "+", 4),
        ("num", "0x1F", 6),
        ("op", ">=", 11),
        ("num", "1_000.5", 14),
        ("op", "??", 22),
        ("str", "x", 25),
        ("eof", "", 28),
    ]
    assert [t.value for t in tokens if t.kind == "num"] == [31, 1000.5]


@pytest.mark.parametrize(
    ("source", "value"),
    [
        (r'"a\nb\t\"q\"\\"', 'a\nb\t"q"\\'),
        (r"'it\'s'", "it's"),
        (r'"\x41\u00e9\101"', "Aé" + "A"),
        ("`raw \\n $x`", "raw \\n $x"),
        ('"1..3"', "1..3"),
    ],
)
def test_string_literals_decode_go_escapes(source: str, value: str) -> None:
    assert evaluate(source) == value


def test_comments_are_skipped() -> None:
    assert evaluate("1 + /* two */ 2 // and the rest") == 3


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 3 ** 2", 512.0),  # right-associative
        ("-2 ** 2", -4.0),  # unary minus binds looser than **
        ("10 - 4 - 3", 3),  # left-associative
        ("1 + 2 == 3 && 2 > 1", True),
        ("true || false && false", True),
        ("not true == false", True),  # (not true) == false, as in expr-lang
        ("1 < 2 ? 'a' : 'b' + 'c'", "a"),
        ("false ? 1 : true ? 2 : 3", 2),
        ("nil ?? 1 + 1", 2),
        ("1..3 == [1, 2, 3]", True),
        ("'b' in ['a', 'b'] and 'z' not in ['a']", True),
        ("[1, 2, 3] | map(# * 2) | sum()", 12),
        ("let x = 2; let y = x * 3; y + x", 8),
        ("'.' + 'a' == '.a'", True),  # a string "." is not the member operator
        ("upper('a') + '('", "A("),
    ],
)
def test_precedence_and_associativity(text: str, value: object) -> None:
    assert evaluate(text) == value


def test_dotted_calls_and_ir_references_parse_as_such() -> None:
    tree = parse("sprig.trim($(params.x)) + $(tasks.my-task.results.r)", refs=True)
    assert isinstance(tree, Binary)
    assert isinstance(tree.left, Call) and tree.left.name == "sprig.trim"
    assert tree.left.args == (Ref(11, 22, "params.x"),)
    assert tree.right == Ref(26, 52, "tasks.my-task.results.r")
    assert parse("1") == Lit(0, 1, 1)


@pytest.mark.parametrize(
    ("text", "message", "pos"),
    [
        ("1 +", "unexpected 'end of expression'", 3),
        ("(1 + 2", "expected ')'", 6),
        ("'open", "unterminated string", 0),
        ('"bad \\q"', "invalid escape", 5),
        ("a ? b", "expected ':'", 5),
        ("1 @ 2", "unexpected character '@'", 2),
        ("# > 1", "outside a predicate", 0),
        ("x | 1", "must be a function call", 4),
        ("", "empty expression", 0),
    ],
)
def test_syntax_errors_name_their_position(text: str, message: str, pos: int) -> None:
    errors = check(text)
    assert len(errors) == 1
    assert message in errors[0].message
    assert errors[0].pos == pos


def test_check_reports_every_unknown_function_and_bad_arity() -> None:
    errors = check("nope(1) + sprig.nothing(2) + len(1, 2) + upper()")
    assert [(e.message, e.pos) for e in errors] == [
        ("unknown function nope", 0),
        ("unknown function sprig.nothing", 10),
        ("len takes 1 argument(s), got 2", 29),
        ("upper takes 1 argument(s), got 0", 41),
    ]
    assert check("sprig.trim(x) + asInt(y) + filter(z, # > 1)[0]") == []


def test_describe_points_at_the_column() -> None:
    error = check("a + nope(1)")[0]
    assert error.describe("a + nope(1)") == "unknown function nope (column 5, near 'nope(1)')"


def test_a_function_is_not_a_value() -> None:
    assert [e.message for e in check("sprig + 1")] == ["function sprig used as a value"]


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(ExprError, match="nested deeper"):
        parse("(" * 200 + "1" + ")" * 200)


@pytest.mark.parametrize("text", ["-" * 5000 + "1", "2" + " ** 2" * 3000, "!" * 5000 + "true"])
def test_pathological_nesting_is_an_error_not_a_crash(text: str) -> None:
    errors = check(text)
    assert len(errors) == 1 and "nested" in errors[0].message
