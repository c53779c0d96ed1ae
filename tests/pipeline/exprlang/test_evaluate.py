"""The expr-lang interpreter: values as Argo computes them, functions, errors and bounds."""

from __future__ import annotations

import time

import pytest

from foredeck.pipeline.exprlang.api import Budget, ExprError, evaluate, go_format
from foredeck.pipeline.exprlang.limits import MAX_STRING

ENV = {
    "inputs": {"parameters": {"n": "41", "name": " World ", "my-param": "dash"}},
    "workflow": {"parameters": {"doc": '{"items": [{"n": 1}, {"n": 2}], "k": {"a-b": "c"}}'}},
    "tasks": {"gen-list": {"outputs": {"result": '["x", "y"]'}}},
}


def run(text: str) -> object:
    return evaluate(text, ENV)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1 + 1", "2"),
        ("1 / 2", "0.5"),
        ("4 / 2", "2"),
        ("7 % 3", "1"),
        ("-7 % 3", "-1"),  # Go's remainder keeps the dividend's sign
        ("2 ** 0.5 > 1.41", "true"),
        ("1000000.0", "1e+06"),
        ("0.1 + 0.2", "0.30000000000000004"),
        ("[1, 'a', true]", "[1 a true]"),
        ("{'b': 1, 'a': [2]}", "map[a:[2] b:1]"),
        ("9223372036854775807 + 1", "-9223372036854775808"),  # int64 wraps
        ("1 / 0", "+Inf"),
    ],
)
def test_results_are_formatted_as_go_prints_them(text: str, shown: str) -> None:
    assert go_format(run(text)) == shown


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("inputs.parameters.n", "41"),
        ("inputs.parameters['my-param']", "dash"),
        ('inputs["parameters"].name', " World "),
        ("tasks['gen-list'].outputs.result", '["x", "y"]'),
        ("[10, 20, 30][-1]", 30),
        ("[10, 20, 30][1:]", [20, 30]),
        ("'hello'[1:3]", "el"),
        ("{'a': 1}.b", None),
        ("{'a': nil}?.a?.b", None),
        ("{'a': {'b': 2}}.a.b", 2),
    ],
)
def test_member_and_index_access(text: str, value: object) -> None:
    assert run(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("asInt(inputs.parameters.n) + 1", 42),
        ("asFloat('1.5') * 2", 3.0),
        ("int('12') + float('0.5')", 12.5),
        ("string(12) + 'x'", "12x"),
        ("len('abc') + len([1]) + len({'a': 1})", 5),
        ("upper(trim(inputs.parameters.name))", "WORLD"),
        ("split('a,b,c', ',')", ["a", "b", "c"]),
        ("join(['a', 'b'], '-')", "a-b"),
        ("replace('aaa', 'a', 'b')", "bbb"),
        ("'abc' startsWith 'a' && 'abc' endsWith 'c' && 'abc' contains 'b'", True),
        ("'v1.2' matches '^v[0-9]+'", True),
        ("filter(1..6, # % 2 == 0)", [2, 4, 6]),
        ("map([{'n': 1}, {'n': 2}], .n * 10)", [10, 20]),
        (
            "all([1, 2], # > 0) && any([1, 2], # > 1) && none([1], # > 5) && one([1, 2], # > 1)",
            True,
        ),
        ("count([1, 2, 3], # > 1)", 2),
        ("find([1, 2, 3], # > 1)", 2),
        ("findIndex([1, 2, 3], # > 5)", -1),
        ("reduce([1, 2, 3], #acc + #, 10)", 16),
        ("sortBy([{'a': 2}, {'a': 1}], .a)[0].a", 1),
        ("groupBy([1, 2, 3], # % 2 == 0)[true]", [2]),
        ("keys({'a': 1})", ["a"]),
        ("toJSON([1])", "[\n  1\n]"),
        ("fromJSON(tasks['gen-list'].outputs.result)[1]", "y"),
        ("max(1, 5, 3) + min([4, 2])", 7),
        ("uniq([1, 1, 2]) == [1, 2]", True),
        ("jsonpath(workflow.parameters.doc, '$.items[1].n')", 2),
        ("jsonpath(workflow.parameters.doc, '$.items[*].n')", [1, 2]),
        ("jsonpath(workflow.parameters.doc, \"$.k['a-b']\")", "c"),
        ("toJson({'a': [1]})", '{"a":[1]}'),
        ("toJson({'b': 1, 'a': 2})", '{"a":2,"b":1}'),  # Go sorts map keys
        ("max([1, 2, 4, 10], 20, [29, 23, -19])", 29),
        ("median(1..5, 4.9)", 3.5),
        ("abs(-.5)", 0.5),
        ("replace('a,b,c', ',', ';', 1)", "a;b,c"),
        ("type(fromJSON('[1]')[0])", "float"),  # Go decodes JSON numbers as float64
        ("type(max(1.5, 2))", "int"),
    ],
)
def test_builtins_and_argo_functions(text: str, value: object) -> None:
    assert run(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("sprig.trim('  a ')", "a"),
        ("sprig.upper('a') + sprig.lower('B') + sprig.title('hi there')", "AbHi There"),
        ("sprig.replace('a', 'b', 'banana')", "bbnbnb"),
        ("sprig.trimPrefix('v', 'v1.2')", "1.2"),
        ("sprig.contains('an', 'banana') && sprig.hasPrefix('ba', 'banana')", True),
        ("sprig.splitList(',', 'a,b')", ["a", "b"]),
        ("sprig.split('.', 'a.b')._1", "b"),
        ("sprig.join('-', ['a', 'b'])", "a-b"),
        ("sprig.int('7') + sprig.atoi('x')", 7),
        ("sprig.add(1, '2', 3) + sprig.mul(2, 3) + sprig.sub(5, 1) + sprig.div(7, 2)", 19),
        ("sprig.default('d', '') + sprig.default('d', 'v')", "dv"),
        ("sprig.empty('') && !sprig.empty('x')", True),
        ("sprig.ternary('y', 'n', true)", "y"),
        ("sprig.regexMatch('^a.c$', 'abc')", True),
        ("sprig.regexReplaceAll('(a)(b)', 'xaby', '${2}$1')", "xbay"),
        ("sprig.regexFindAll('[0-9]', 'a1b2c3', 2)", ["1", "2"]),
        ("sprig.b64enc('hi') + sprig.b64dec('aGk=')", "aGk=hi"),
        ("sprig.sha256sum('')[:8]", "e3b0c442"),
        ("sprig.toJson(sprig.dict('a', 1))", '{"a":1}'),
        ("sprig.fromJson('{\"a\": 2}').a", 2),
        ("' a ' | sprig.trim() | upper()", "A"),  # the piped value is the first argument
        ("sprig.has(2, sprig.list(1, 2))", True),
        ("sprig.trunc(3, 'abcdef') + sprig.substr(1, 3, 'abcdef')", "abcbc"),
        ("sprig.repeat(3, 'ab')", "ababab"),
        ("sprig.quote('a', 'b')", '"a" "b"'),
        ("sprig.seq(3)", "1 2 3"),
        ("sprig.until(3)", [0, 1, 2]),
        ("sprig.base('/a/b.txt') + sprig.ext('/a/b.txt')", "b.txt.txt"),
        ("sprig.snakecase('HelloWorld') + sprig.kebabcase('a_b')", "hello_worlda-b"),
        ("sprig.round(3.14159, 2)", 3.14),
        ("sprig.nospace(' a b ')", "ab"),
    ],
)
def test_sprig_functions_take_the_subject_last(text: str, value: object) -> None:
    assert run(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'a' + 1", "invalid operation: string + int"),
        ("1 && true", "`&&` expects a bool, got int"),
        ("nothing.here", "unknown name nothing"),
        ("[1][5]", "index out of range: 5 (length 1)"),
        ("asInt('x')", "asInt: invalid syntax: 'x'"),
        ("asInt(' 5')", "asInt: invalid syntax: ' 5'"),  # Go's Atoi takes no spaces
        ("asFloat('1_0')", "asFloat: invalid syntax"),
        ("1 % 0", "integer divide by zero"),
        ("1 ? 2 : 3", "`?:` expects a bool"),
        ("fromJSON('{')", "fromJSON: invalid JSON"),
        ("jsonpath('{}', '$.a')", "jsonpath: unknown key or index"),
        ("'a' matches '('", "invalid regular expression"),
        ("nil.a", "cannot fetch 'a' from nil"),
    ],
)
def test_run_time_errors_say_what_failed(text: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        run(text)
    assert message in info.value.message
    assert info.value.pos is not None or "invalid" in message


def test_ir_references_are_resolved_by_the_caller() -> None:
    values = {"params.n": "4", "tasks.a-b.results.r": "x"}
    text = "asInt($(params.n)) * 2 + len($(tasks.a-b.results.r))"
    assert evaluate(text, resolve=values.get, refs=True) == 9
    with pytest.raises(ExprError, match=r"unresolved reference \$\(params.nope\)"):
        evaluate("$(params.nope)", resolve=values.get, refs=True)


def test_strings_past_the_size_bound_are_refused() -> None:
    with pytest.raises(ExprError, match="string longer than"):
        evaluate(f"repeat('ab', {MAX_STRING})")
    with pytest.raises(ExprError, match="string longer than"):
        evaluate("let s = repeat('x', 600000); s + s")
    with pytest.raises(ExprError, match="range longer than"):
        evaluate("1..100000000")


def test_a_runaway_expression_stops_at_the_step_budget() -> None:
    # 1000 x 1000 predicate evaluations: far past the default budget
    text = "count(1..1000, count(1..1000, # > 0) > 0)"
    started = time.monotonic()
    with pytest.raises(ExprError, match="budget"):
        evaluate(text)
    assert time.monotonic() - started < 30  # generous: the bound, not the speed, is tested


def test_the_time_bound_stops_an_evaluation() -> None:
    with pytest.raises(ExprError, match="time limit"):
        evaluate("count(1..1000, count(1..1000, # > 0) > 0)", budget=Budget(10**9, 0.0))


def test_an_upstream_example_reusing_a_verbose_snippet() -> None:
    """argo-workflows examples/expression-reusing-verbose-snippets.yaml, its input's value."""
    text = """
      map([
          jsonpath(sprig.b64dec(jsonpath(workflow.parameters.weather, '$.weekWeather')), '$.temps')
        ], {
          toJson({
            avg: sprig.add(#[0], #[1], #[2], #[3], #[4]) / 5,
            min: sprig.min(#[0], #[1], #[2], #[3], #[4]),
            max: sprig.max(#[0], #[1], #[2], #[3], #[4])
          })
      })[0]
    """
    weather = '{"weekWeather": "eyJ0ZW1wcyI6IFszNCwgMjcsIDE1LCA1NywgNDZdfQo="}'
    result = evaluate(text, {"workflow": {"parameters": {"weather": weather}}})
    assert result == '{"avg":35.8,"max":57,"min":15}'
    assert go_format(evaluate("jsonpath(t, '$.avg')", {"t": result})) == "35.8"


def test_sprig_dates_format_with_go_layouts() -> None:
    from datetime import datetime, timedelta, timezone

    from foredeck.pipeline.exprlang.sprig_time import go_time_format

    t = datetime(2023, 1, 2, 15, 4, 5, 123000, tzinfo=timezone(timedelta(hours=-7)))
    layout = "2006-01-02T15:04:05.000Z07:00 Mon Jan _2 3PM -0700 06"
    assert go_time_format(t, layout) == "2023-01-02T15:04:05.123-07:00 Mon Jan  2 3PM -0700 23"
    assert evaluate("sprig.date('2006-01-02', 86400)") == "1970-01-02"  # Unix seconds
    assert evaluate("sprig.dateInZone('15:04', 0, 'UTC')") == "00:00"
    # any other value is "now", as in Sprig (a workflow's creationTimestamp string, say)
    assert len(evaluate("sprig.date('2006', 'not a time')")) == 4
    assert len(evaluate("sprig.randAlphaNum(12)")) == 12
    assert evaluate("len(sprig.uuidv4())") == 36
    with pytest.raises(ExprError, match="random string length"):
        evaluate("sprig.randAlpha(100000)")


@pytest.mark.parametrize(
    ("text", "written"),
    [
        # Go's encoding/json: floats in their shortest form, plain between 1e-6 and 1e21
        (
            "toJson(fromJSON('[1, 2.5, 0.000001, 1e16, 1e21, 1.5e-7, -0.0]'))",
            "[1,2.5,0.000001,10000000000000000,1e+21,1.5e-7,-0]",
        ),
        ("toJson(jsonpath(workflow.parameters.doc, '$.items[*].n'))", "[1,2]"),
        # <, > and & escaped by json.Marshal, kept by sprig's raw encoder; U+2028 always
        ("toJson('a<b && c>d')", '"a\\u003cb \\u0026\\u0026 c\\u003ed"'),
        ("sprig.toJson('<x>')", '"\\u003cx\\u003e"'),
        ("sprig.toRawJson('<x>\u2028')", '"<x>\\u2028"'),
        (
            "sprig.toPrettyJson({'b': [1, 2], 'a': {}})",
            '{\n  "a": {},\n  "b": [\n    1,\n    2\n  ]\n}',
        ),
        ("toJSON({'k': 1.0})", '{\n  "k": 1\n}'),
    ],
)
def test_json_is_written_as_go_writes_it(text: str, written: str) -> None:
    assert run(text) == written


def test_json_of_what_go_cannot_marshal_is_an_error() -> None:
    with pytest.raises(ExprError, match="toJson: unsupported value: \\+Inf"):
        run("toJson(1 / 0)")


EMPLOYEES = '{"staff": [{"name": "Ann", "age": 43}, {"name": "Mo", "age": 42}, {"id": 7}]}'


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ('$.staff[?(@.name=="Ann")].age', [43]),
        ("$.staff[?(@.age > 42 || @.name == 'Mo')].name", ["Ann", "Mo"]),
        ("$.staff[?(@.age>42 && @.age<44)].age", [43]),
        ('$.staff[?(@.name == "a)]b")]', []),  # a bracket inside a string ends nothing
        ("$.staff[?(@.id)].id", [7]),
    ],
)
def test_jsonpath_filters_keep_the_elements_they_hold_for(path: str, value: object) -> None:
    """Argo's expression-destructure-json-complex: filters over `@` (PaesslerAG/jsonpath)."""
    assert evaluate(f"jsonpath(doc, {path!r})", {"doc": EMPLOYEES}) == value


def test_an_unclosed_jsonpath_filter_is_an_error() -> None:
    with pytest.raises(ExprError, match="unclosed filter"):
        evaluate("jsonpath(doc, '$.staff[?(@.age > 1]')", {"doc": EMPLOYEES})
