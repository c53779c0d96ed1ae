"""`foredeck.storage.prow`: the Prow metadata files the executor writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from foredeck.storage import prow


def test_started_and_finished_content(tmp_path: Path) -> None:
    prow.write_started(tmp_path, 1700000000.9, {"pipeline": "e2e"})
    prow.write_finished(tmp_path, 1700000100.2, passed=False, result="ABORTED")
    assert json.loads((tmp_path / "started.json").read_text()) == {
        "timestamp": 1700000000,
        "metadata": {"pipeline": "e2e"},
    }
    assert json.loads((tmp_path / "finished.json").read_text()) == {
        "timestamp": 1700000100,
        "passed": False,
        "result": "ABORTED",
    }


def test_atomic_write_keeps_old_content_when_serialising_fails(tmp_path: Path) -> None:
    target = tmp_path / "pipeline-run.json"
    prow.write_json_atomic(target, {"status": "Running"})
    with pytest.raises(TypeError):
        prow.write_json_atomic(target, {"status": object()})
    assert json.loads(target.read_text()) == {"status": "Running"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipeline-run.json"]


def test_compact_and_indented_forms_hold_the_same_data(tmp_path: Path) -> None:
    data = {"tasks": {"a": {"status": "Succeeded", "results": {"x": ["1", "2"]}}}}
    prow.write_json_atomic(tmp_path / "a.json", data, indent=None)
    prow.write_json_atomic(tmp_path / "b.json", data)
    assert (tmp_path / "a.json").read_text().count("\n") == 1
    assert (tmp_path / "b.json").read_text().count("\n") > 1
    assert json.loads((tmp_path / "a.json").read_text()) == data
    assert json.loads((tmp_path / "b.json").read_text()) == data
