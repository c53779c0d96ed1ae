"""Argo `http` templates: read into the IR, refused with a clear error when malformed, and
emitted back to Argo as written (schema-valid, a fixed point); Tekton has no equal."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.emit_tekton import emit_tekton
from foredeck.pipeline.load import load_pipeline_text
from foredeck.types import PipelineError
from tests.pipeline.test_emit import argo_validator, schema_errors

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: calls}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: base, value: "http://127.0.0.1:8080"}]
  templates:
    - name: main
      dag:
        tasks:
          - name: post
            template: call
            arguments:
              parameters:
                - {name: path, value: echo}
                - {name: base, value: "{{workflow.parameters.base}}"}
          - name: show
            depends: post
            template: show
            arguments:
              parameters: [{name: got, value: "{{tasks.post.outputs.result}}"}]
    - name: call
      inputs:
        parameters: [{name: path}, {name: base}]
      retryStrategy: {limit: 2}
      timeout: 20s
      http:
%s
    - name: show
      inputs: {parameters: [{name: got}]}
      container: {image: busybox, command: [echo, "{{inputs.parameters.got}}"]}
"""

FULL = """\
        url: "{{inputs.parameters.base}}/{{inputs.parameters.path}}"
        method: POST
        headers:
          - {name: X-Name, value: "{{inputs.parameters.path}}"}
          - name: Authorization
            valueFrom: {secretKeyRef: {name: api, key: token}}
        body: '{"who": "{{inputs.parameters.path}}"}'
        timeoutSeconds: 5
        successCondition: response.statusCode == 201 && response.body contains "ok"
        insecureSkipVerify: true
"""


def _template(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in doc["spec"]["templates"] if t["name"] == name)
    return found


@pytest.mark.parametrize(
    "http",
    [FULL, '        url: "{{inputs.parameters.base}}"\n        bodyFrom: {bytes: aGVsbG8=}\n'],
)
def test_an_http_template_round_trips_to_argo_unchanged(http: str) -> None:
    source = WORKFLOW % http.rstrip("\n")
    emitted = emit_argo(load_pipeline_text(source, "wf.yaml"))
    assert schema_errors(argo_validator(), emitted) == []
    written = _template(yaml.safe_load(source), "call")
    call = _template(emitted, "call")
    assert call["http"] == written["http"]
    assert call["inputs"] == {"parameters": [{"name": "path"}, {"name": "base"}]}
    assert str(call["retryStrategy"]["limit"]) == "2"
    assert "outputs" not in call  # `outputs.result` is Argo's own
    show = next(t for t in emitted["spec"]["templates"][0]["dag"]["tasks"] if t["name"] == "show")
    assert show["arguments"]["parameters"][0]["value"] == "{{tasks.post.outputs.result}}"
    again = emit_argo(load_pipeline_text(yaml.safe_dump(emitted), "again.yaml"))
    assert again == emitted


def test_workflow_variables_in_a_request_are_bound_per_call_as_in_a_container() -> None:
    http = '        url: "{{workflow.parameters.base}}/x"\n        body: "{{workflow.name}}"'
    emitted = emit_argo(load_pipeline_text(WORKFLOW % http, "wf.yaml"))
    call = _template(emitted, "call")
    assert call["http"]["url"] == "{{inputs.parameters.workflow-parameters-base}}/x"
    post = emitted["spec"]["templates"][0]["dag"]["tasks"][0]
    bound = {p["name"]: p["value"] for p in post["arguments"]["parameters"]}
    assert bound["workflow-parameters-base"] == "{{workflow.parameters.base}}"
    assert bound["workflow-name"] == "{{workflow.name}}"


def test_tekton_has_no_http_task_and_says_so() -> None:
    run = load_pipeline_text(WORKFLOW % '        url: "{{workflow.parameters.base}}"', "wf.yaml")
    with pytest.raises(PipelineError, match=r"`http` template .* has no Tekton equal"):
        emit_tekton(run)


@pytest.mark.parametrize(
    ("http", "message"),
    [
        ("        method: GET", "wf.yaml:29: template 'call' http: `url` is required"),
        (
            '        url: "x"\n        successCondition: nosuch(response.body)',
            "wf.yaml:30: template 'call' http.successCondition: 'nosuch(response.body)':",
        ),
        ('        url: "x"\n        bodyFrom: {bytes: "!!"}', "http.bodyFrom.bytes: not base64"),
        ('        url: "x"\n        body: a\n        bodyFrom: {bytes: aA==}', "not both"),
        ('        url: "x"\n        timeoutSeconds: soon', "expected an integer"),
        ('        url: "x"\n        insecureSkipVerify: maybe', "must be true or false"),
        ('        url: "x"\n        proxy: y', "`proxy` is not supported"),
        ('        url: "{{inputs.parameters.nope}}"', "declares no input parameter 'nope'"),
        (
            '        url: "x"\n        headers: [{name: A, value: b, valueFrom: {}}]',
            "give `value` or `valueFrom`, not both",
        ),
    ],
)
def test_a_malformed_http_template_is_refused_naming_the_line(http: str, message: str) -> None:
    with pytest.raises(PipelineError) as raised:
        load_pipeline_text(WORKFLOW % http, "wf.yaml")
    assert message in str(raised.value)


def test_outputs_other_than_the_result_are_refused() -> None:
    text = (WORKFLOW % '        url: "x"').replace(
        "      timeout: 20s\n", "      timeout: 20s\n      outputs: {parameters: [{name: p}]}\n"
    )
    with pytest.raises(PipelineError, match=r"one output is `outputs\.result`"):
        load_pipeline_text(text, "wf.yaml")
