"""Matrix combinations: order, include, run-time arrays, limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.matrix import MAX_COMBINATIONS, combinations, instance_name
from foredeck.pipeline.expressions import SubstitutionError
from foredeck.pipeline.model import Matrix, ParamSpec, ParamValue, PipelineRunSpec
from tests.execute.helpers import pipeline, task

VALUES: dict[str, ParamValue] = {
    "params.json": '["x", "y"]',
    "params.list": ["p", "q"],
    "params.text": "not an array",
}


def lookup(path: str) -> ParamValue | None:
    return VALUES.get(path)


def test_cross_product_then_include_in_order() -> None:
    # Tekton's FanOut: the first param varies fastest (upstream's matrix-emitting-results
    # example checks the aggregated results in that order).
    matrix = Matrix(params={"a": ["1", "2"], "b": ["x", "y"]}, include=[{"a": "9"}])
    assert combinations(matrix, lookup) == [
        {"a": "1", "b": "x"},
        {"a": "2", "b": "x"},
        {"a": "1", "b": "y"},
        {"a": "2", "b": "y"},
        {"a": "9"},
    ]
    assert instance_name("build", 4) == "build[4]"


def test_axes_from_expressions_and_json_text() -> None:
    matrix = Matrix(params={"j": "$(params.json)", "l": "$(params.list[*])"})
    assert combinations(matrix, lookup) == [
        {"j": "x", "l": "p"},
        {"j": "y", "l": "p"},
        {"j": "x", "l": "q"},
        {"j": "y", "l": "q"},
    ]


def test_non_array_axis_and_too_many_combinations_are_errors() -> None:
    with pytest.raises(SubstitutionError, match="not an array"):
        combinations(Matrix(params={"t": "$(params.text)"}), lookup)
    many = [str(i) for i in range(17)]
    with pytest.raises(SubstitutionError, match=f"limit of {MAX_COMBINATIONS}"):
        combinations(Matrix(params={"a": many, "b": many}), lookup)


async def test_empty_matrix_skips_the_task_and_bad_matrix_fails_it(tmp_path: Path) -> None:
    p = pipeline(
        task(
            "empty",
            "echo never",
            task_params=["x"],
            matrix=Matrix(params={"x": "$(params.none[*])"}),
        ),
        task("bad", "echo never", task_params=["x"], matrix=Matrix(params={"x": "$(params.s)"})),
        params=[ParamSpec("none", type="array", default=[]), ParamSpec("s", default="scalar")],
    )
    result = await run_pipeline(PipelineRunSpec(p, {}, name="m"), tmp_path / "out", parallel=2)
    assert result.tasks["empty"].status == "Skipped"
    assert result.tasks["empty"].reason == "matrix has no combinations"
    assert result.tasks["bad"].status == "Failed"
    assert "not an array" in result.tasks["bad"].reason
