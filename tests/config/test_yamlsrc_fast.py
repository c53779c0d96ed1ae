"""yamlsrc's libyaml path must give exactly what the Python path gives: data, lines, errors."""

from __future__ import annotations

from typing import Any

import pytest

from foredeck import yamlsrc
from foredeck.types import PipelineError
from tests.config.helpers import REALISTIC

pytestmark = pytest.mark.skipif(
    yamlsrc._FastLoader is None, reason="PyYAML was built without libyaml: no fast path to compare"
)

SAMPLES = [
    """
# comment
base: &base
  image: alpine   # trailing comment
  env: [{name: A, value: "1"}]
jobs:
- <<: *base
  name: one
  when: 2024-01-02
  count: 0x1F
  ratio: 1.5e3
  flags: [yes, No, ~, null, true]
- name: "two"
  'quoted key': >
    folded
    text
  script: |
    echo one
    echo two
  shared: *base
""",
    "---\na: 1\n---\n---\n- x\n- {b: [1, 2, {c: d}]}\n",
    "key: ü ünïcödé ✓\nother:\n  nested:\n    deeper: {x: 1}\n",
    "42\n",
    "",
    "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n",  # a merged key overridden: no duplicate
]


def positions(value: Any) -> Any:
    """The data with every mapping's own line and each key's line folded in."""
    if isinstance(value, yamlsrc.SourceMap):
        return {
            "@": str(value.source),
            **{k: (str(value.key_sources[k]), positions(v)) for k, v in value.items()},
        }
    if isinstance(value, list):
        return [positions(v) for v in value]
    return value


def both(text: str) -> tuple[Any, Any]:
    assert yamlsrc._FastLoader is not None
    fast = yamlsrc._parse(yamlsrc._FastLoader(text), "f.yaml")
    slow = yamlsrc._parse(yamlsrc._Loader(text), "f.yaml")
    return fast, slow


@pytest.mark.parametrize("text", SAMPLES)
def test_same_data_and_positions(text: str) -> None:
    fast, slow = both(text)
    assert [d.source for d in fast] == [d.source for d in slow]
    assert [positions(d.data) for d in fast] == [positions(d.data) for d in slow]


def test_realistic_config_files_are_identical() -> None:
    for path in sorted(REALISTIC.rglob("*.yaml")):
        fast, slow = both(path.read_text())
        assert [positions(d.data) for d in fast] == [positions(d.data) for d in slow], path


def test_aliases_share_objects_instead_of_copying() -> None:
    (doc,) = yamlsrc.load_documents("a: &x [1, 2]\nb: *x\nc: *x\n", "f.yaml")
    assert doc.data["b"] is doc.data["a"] and doc.data["c"] is doc.data["a"]


@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 2\n",
        "a: 1\n a: 2\n",
        "a: 1\na: 2\n",
        "? [1, 2]\n: x\n",
        "a: &x {b: *x}\n",
        "a: !!python/object:os.system x\n",
        "\tindented: with a tab\n",
    ],
)
def test_errors_are_exactly_the_python_loaders(text: str) -> None:
    with pytest.raises(PipelineError) as fast:
        yamlsrc.load_documents(text, "f.yaml")
    with pytest.raises(PipelineError) as slow:
        yamlsrc._parse(yamlsrc._Loader(text), "f.yaml")
    assert str(fast.value) == str(slow.value)
    assert str(fast.value).startswith("f.yaml:")


def test_last_key_wins_gives_the_same_data_and_repeats_on_both_paths() -> None:
    text = "a: 1\nm: {<<: {a: 0}, a: 2, b: 3, a: 4}\na: 5\n"
    assert yamlsrc._FastLoader is not None
    fast = yamlsrc._parse(yamlsrc._FastLoader(text), "f.yaml", last_key_wins=True)
    slow = yamlsrc._parse(yamlsrc._Loader(text), "f.yaml", last_key_wins=True)
    for docs in (fast, slow):
        (doc,) = docs
        assert doc.data == {"a": 5, "m": {"a": 4, "b": 3}}
        assert [(d.key, d.source.line, d.first.line) for d in doc.duplicate_keys] == [
            ("a", 2, 2),
            ("a", 3, 1),
        ]


def test_forbidden_control_characters_are_a_clear_error() -> None:
    with pytest.raises(PipelineError) as info:
        yamlsrc.load_documents("a: 1\nb: 'bell\x07'\n", "f.yaml")
    assert str(info.value) == "f.yaml:2: invalid YAML: unacceptable character #x0007"


def test_absurd_nesting_is_a_clear_error_not_a_crash() -> None:
    depth = 20_000  # libyaml refuses this; the Python parser would exhaust the stack
    with pytest.raises(PipelineError) as info:
        yamlsrc.load_documents("[" * depth + "]" * depth, "f.yaml")
    assert str(info.value) == "f.yaml:1: invalid YAML: nested too deeply"
