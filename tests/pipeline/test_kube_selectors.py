"""Resource conditions as Argo evaluates them (Kubernetes label-selector requirements over gjson
paths), kubectl JSONPath outputs, jq paths and kubectl flags."""

from __future__ import annotations

import pytest

from foredeck.pipeline.kube_selectors import (
    SelectorError,
    jq_path,
    json_path,
    parse_flags,
    parse_requirements,
)

JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "pi", "labels": {"app": "x"}},
    "status": {"succeeded": 2, "phase": "Running", "conditions": [{"type": "Complete"}]},
}


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ("status.succeeded > 0", True),
        ("status.succeeded > 2", False),
        ("status.succeeded < 3", True),
        ("status.failed > 0", False),  # missing: a comparison fails
        ("status.phase == Running", True),
        ("status.phase = Running, status.succeeded > 1", True),  # all of them
        ("status.phase != Failed", True),
        ("status.failed != 1", True),  # missing: != holds, as in Kubernetes
        ("status.phase in (Failed, Error)", False),
        ("status.phase notin (Failed,Error)", True),
        ("status.phase", True),
        ("!status.failed", True),
        ("status.conditions.0.type = Complete", True),
        ("status.conditions.# = 1", True),
        ("metadata.labels.app > 0", False),  # not an integer: no match
    ],
)
def test_conditions_hold_as_in_argo(condition: str, holds: bool) -> None:
    assert all(r.matches(JOB) for r in parse_requirements(condition)) is holds


@pytest.mark.parametrize("bad", ["status >", "status.x in (a", "a b", "x > y"])
def test_bad_conditions_are_refused(bad: str) -> None:
    with pytest.raises(SelectorError, match="condition"):
        parse_requirements(bad)


def test_json_path_and_jq_outputs() -> None:
    assert json_path(JOB, "{.metadata.name}") == "pi"
    assert json_path(JOB, "{.status.conditions[0].type}/{.status.succeeded}") == "Complete/2"
    assert json_path(JOB, "{.status.conditions[*].type}") == "Complete"
    assert json_path(JOB, "{.metadata.labels}") == '{"app":"x"}'
    assert json_path(JOB, "{.spec.missing}") == ""
    assert jq_path(JOB, ".metadata.name") == "pi"
    assert jq_path(JOB, ".status.conditions[0]") == '{"type":"Complete"}'
    assert jq_path(JOB, ".nothing") == "null"
    with pytest.raises(SelectorError, match="only a path"):
        jq_path(JOB, ".items | length")


def test_flags_name_the_object_or_are_refused() -> None:
    target = parse_flags(["pod", "p-1"], "patch")
    assert (target.kind, target.name) == ("pod", "p-1")
    target = parse_flags(["jobs.batch/pi", "--validate=false"], "get")
    assert (target.kind, target.name) == ("jobs.batch", "pi")
    assert target.notes == ["flag '--validate=false' has no effect through the API"]
    assert parse_flags(["cm", "-l", "a=b"], "delete").selector == "a=b"
    with pytest.raises(SelectorError, match="a selector only with get or delete"):
        parse_flags(["cm", "-l", "a=b"], "patch")
    with pytest.raises(SelectorError, match="'--force' is not supported"):
        parse_flags(["--force"], "delete")
