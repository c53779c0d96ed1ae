"""Every malformed file in tests/data/pipelines/bad fails with the error its first line promises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from foredeck.pipeline.load import load_run
from foredeck.types import PipelineError

BAD = Path(__file__).resolve().parents[1] / "data" / "pipelines" / "bad"
_EXPECT = re.compile(r"#\s*expect:\s*(\d+)\s+(.+)")


def _cases() -> list[Path]:
    return sorted(BAD.glob("*.yaml"))


def test_there_are_enough_bad_files() -> None:
    assert len(_cases()) >= 12


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_bad_pipeline_fails_with_one_line_located_error(path: Path) -> None:
    original = path.read_bytes()
    first = original.decode("utf-8").splitlines()[0]
    match = _EXPECT.fullmatch(first.strip())
    assert match, f"{path.name}: first line must be '# expect: <line> <substring>'"
    line, substring = int(match.group(1)), match.group(2).strip()

    with pytest.raises(PipelineError) as info:
        load_run([path])

    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    assert substring in message
    assert info.value.source.line == line
    assert path.read_bytes() == original  # a failed load never touches its input
