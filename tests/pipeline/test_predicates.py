"""Dependency predicates: Argo's `depends` language parsed, evaluated and written back."""

from __future__ import annotations

import pytest

from foredeck.pipeline.predicates import (
    MAX_DEPTH,
    AllOf,
    AnyOf,
    ContinueOn,
    Is,
    Not,
    PredicateError,
    done,
    evaluate,
    parse,
    rename,
    render,
    tasks_of,
)

FAILED_ONLY: ContinueOn = frozenset({"Failed"})


def outcomes(**given: str) -> dict[str, frozenset[str]]:
    return {name: frozenset(value.split("+")) for name, value in given.items()}


def test_a_bare_name_means_succeeded_skipped_or_daemoned() -> None:
    assert parse("a") == AnyOf((Is("a", "Succeeded"), Is("a", "Skipped"), Is("a", "Daemoned")))


def test_a_bare_name_expands_with_the_tasks_continue_on() -> None:
    predicate = parse("a && b", lambda name: FAILED_ONLY if name == "a" else frozenset())
    assert predicate == AllOf((done("a", FAILED_ONLY), done("b")))
    assert evaluate(predicate, outcomes(a="Failed", b="Skipped"))
    assert not evaluate(predicate, outcomes(a="Errored", b="Succeeded"))


def test_precedence_is_not_then_and_then_or() -> None:
    predicate = parse("!a.Failed && b.Succeeded || c.Omitted")
    assert predicate == AnyOf(
        (AllOf((Not(Is("a", "Failed")), Is("b", "Succeeded"))), Is("c", "Omitted"))
    )


@pytest.mark.parametrize(
    ("text", "given", "expected"),
    [
        ("a", {"a": "Succeeded"}, True),
        ("a", {"a": "Skipped"}, True),
        ("a", {"a": "Omitted"}, False),
        ("a", {"a": "Failed"}, False),
        ("a.Succeeded", {"a": "Skipped"}, False),
        ("a.Failed", {"a": "Failed"}, True),
        ("a.Errored", {"a": "Failed"}, False),
        ("a || b.Failed", {"a": "Omitted", "b": "Failed"}, True),
        ("(a.Succeeded || a.Skipped) && !b.Failed", {"a": "Skipped", "b": "Succeeded"}, True),
        ("(a.Succeeded || a.Skipped) && !b.Failed", {"a": "Skipped", "b": "Failed"}, False),
        ("!(a || b)", {"a": "Failed", "b": "Omitted"}, True),
        ("a.AnySucceeded", {"a": "Failed+AnySucceeded"}, True),
        ("a.AllFailed", {"a": "Failed+AnySucceeded"}, False),
    ],
)
def test_evaluate(text: str, given: dict[str, str], expected: bool) -> None:
    assert evaluate(parse(text), outcomes(**given)) is expected


@pytest.mark.parametrize(
    "text",
    [
        "a",
        "a.Failed",
        "a || b",
        "!a",
        "a && b.Succeeded",
        "(a.Errored || a.Failed) && !b.Omitted",
        "!(a || b.Skipped)",
        "a.AnySucceeded || b.AllFailed",
        "task-1 && task_2.Daemoned",
    ],
)
def test_render_round_trips(text: str) -> None:
    assert render(parse(text)) == text
    assert parse(render(parse(text))) == parse(text)


def test_render_folds_an_expansion_with_continue_on_back_into_the_name() -> None:
    def continues(name: str) -> ContinueOn:
        return FAILED_ONLY if name == "a" else frozenset()

    predicate = parse("a && b", continues)
    assert render(predicate, continues) == "a && b"
    # without knowing a's continueOn, the expansion is written out in full
    assert render(predicate) == "(a.Succeeded || a.Skipped || a.Daemoned || a.Failed) && b"


def test_tasks_of_and_rename() -> None:
    predicate = parse("(b.Failed || a) && !b.Omitted")
    assert tasks_of(predicate) == ["b", "a"]
    assert tasks_of(rename(predicate, {"b": "bee"})) == ["bee", "a"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("a.Completed", "unknown task result 'Completed' at column 1"),
        ("a &&", "unexpected end"),
        ("a b", "unexpected 'b' at column 3"),
        ("(a || b", "missing ')'"),
        ("a)", "unexpected ')'"),
        ("a == b", "cannot read '== b' at column 3"),
        ("&& a", "unexpected '&&' at column 1"),
    ],
)
def test_bad_predicates(text: str, why: str) -> None:
    with pytest.raises(PredicateError) as info:
        parse(text)
    assert why in str(info.value)


def test_input_is_bounded_in_length_and_depth() -> None:
    with pytest.raises(PredicateError, match="deeper than"):
        parse("!" * (MAX_DEPTH + 1) + "a")
    with pytest.raises(PredicateError, match="deeper than"):
        parse("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(PredicateError, match="longer than"):
        parse(" || ".join(["a"] * 5000))
