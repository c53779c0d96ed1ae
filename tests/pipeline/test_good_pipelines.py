"""The good pipelines load, and each of their documents is real Tekton v1 (upstream schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from foredeck.pipeline.load import load_run
from foredeck.pipeline.validate import dependencies

DATA = Path(__file__).resolve().parents[1] / "data"
GOOD = DATA / "pipelines" / "good"
SCHEMA = DATA / "schemas" / "tekton-pipeline-v1-with-k8s.json"

# upstream describes ParamValue as its Go struct; in manifests it is this union (see schemas README)
_PARAM_VALUE = {
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "additionalProperties": {"type": "string"}},
    ]
}


def _good_files() -> list[Path]:
    return sorted(GOOD.rglob("*.yaml"))


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    defs: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))["definitions"]
    defs["v1.ParamValue"] = _PARAM_VALUE
    return defs


@pytest.mark.parametrize("path", _good_files(), ids=lambda p: str(p.relative_to(GOOD)))
def test_good_documents_match_the_upstream_schema(path: Path, definitions: dict[str, Any]) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert docs
    for doc in docs:
        assert doc["apiVersion"] == "tekton.dev/v1"
        schema = {"$ref": f"#/definitions/v1.{doc['kind']}", "definitions": definitions}
        jsonschema.Draft4Validator(schema).validate(doc)


def test_schema_check_is_not_vacuous(definitions: dict[str, Any]) -> None:
    schema = {"$ref": "#/definitions/v1.Pipeline", "definitions": definitions}
    bad = {"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "spec": {"tasks": [{"retries": "x"}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(bad)


@pytest.mark.parametrize(
    "target", [GOOD / "multi", GOOD / "single-task.yaml", GOOD / "inline-run.yaml"], ids=str
)
def test_good_pipelines_load(target: Path) -> None:
    run = load_run([target])
    graph = dependencies(run.pipeline)
    assert set(graph) == {t.name for t in run.pipeline.all_tasks()}
    assert all(t.source.file.startswith(str(target)) for t in run.pipeline.all_tasks())


def test_inline_run_details() -> None:
    run = load_run([GOOD / "inline-run.yaml"])
    p = run.pipeline
    assert run.name == "nightly"
    assert run.params == {
        "config": {"region": "eu-west-1", "size": "small"},
        "mode": "full",
        "repo": "https://example.com/org/repo.git",
    }
    assert p.timeout == 7200.0
    assert dependencies(p) == {"checkout": set(), "test": {"checkout"}, "notify": set()}
    test = p.tasks[1]
    assert test.matrix is not None
    assert test.matrix.params == {"shard": ["1", "2"]}
    assert test.matrix.include == [{"shard": "3"}]
    assert test.params == {"commit": "$(tasks.checkout.results.commit)", "mode": "$(params.mode)"}
    checkout_spec = p.spec_of(p.tasks[0])
    assert [x.name for x in checkout_spec.params] == ["repo", "config"]
