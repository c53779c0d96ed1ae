"""The Argo front end: Workflow YAML into the IR, and clear errors for what the IR cannot hold."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from foredeck.pipeline.argo import load_argo
from foredeck.pipeline.argo_manifest import shebang_command
from foredeck.pipeline.collector import (
    COLLECT_STEP,
    CollectedOutput,
    collector_step,
    parse_collector,
)
from foredeck.pipeline.load import load_run
from foredeck.pipeline.model import Pipeline, PipelineTask, Step, WhenExpression
from foredeck.pipeline.predicates import Is, done, render
from foredeck.pipeline.validate import dependencies, validate
from foredeck.types import PipelineError
from foredeck.yamlsrc import load_documents, load_file

DATA = Path(__file__).resolve().parents[1] / "data" / "argo"
HEAD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: wf
spec:
"""
ECHO = """\
  - name: echo
    inputs:
      parameters:
      - name: msg
        default: hi
    container:
      image: alpine
      command: [echo, "{{inputs.parameters.msg}}"]
"""


def load(text: str) -> Pipeline:
    pipeline = load_argo(load_documents(textwrap.dedent(text), "wf.yaml"))
    validate(pipeline, {})
    return pipeline


def error(text: str) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        load(text)
    return info.value


def dag(tasks: str, templates: str = ECHO, spec: str = "") -> str:
    """A workflow whose entrypoint `main` is a dag of `tasks` (YAML list items, 6-space indent)."""
    return (
        HEAD
        + spec
        + "  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n"
        + textwrap.indent(textwrap.dedent(tasks).rstrip("\n") + "\n", "      ")
        + templates
    )


def task(pipeline: Pipeline, name: str) -> PipelineTask:
    return next(t for t in pipeline.all_tasks() if t.name == name)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --- shapes -----------------------------------------------------------------------------------


def test_diamond_dag_params_outputs_and_results() -> None:
    p = load_argo(load_file(DATA / "dag-diamond.yaml"))
    validate(p, {})
    assert dependencies(p) == {"A": set(), "B": {"A"}, "C": {"A"}, "D": {"B", "C"}}
    assert [(x.name, x.default) for x in p.params] == [("greeting", "hello")]
    assert task(p, "A").params == {"tag": "A", "text": "$(params.greeting)"}
    assert task(p, "B").params["text"] == "$(tasks.A.results.text)-b"
    assert task(p, "D").params["text"] == "$(tasks.B.results.text)+$(tasks.C.results.text)"
    assert [(r.name, r.value) for r in p.results] == [("final", "$(tasks.D.results.text)")]
    spec = p.task_library["say"]
    assert [s.name for s in spec.steps] == ["main", COLLECT_STEP]
    assert spec.steps[0].args == [
        'printf \'%s\\n\' "$(params.text)" > "$(workspaces.work.path)/$(params.tag).txt"'
    ]
    collected = parse_collector(spec.steps[1])
    assert collected == [CollectedOutput("text", "$(workspaces.work.path)/$(params.tag).txt", None)]
    assert [w.name for w in p.workspaces] == ["work"]
    assert task(p, "A").workspaces == {"work": "work"}
    assert all(t.task_ref == "say" for t in p.tasks)


def test_steps_are_sequential_groups_and_nested_templates_are_inlined() -> None:
    p = load_argo(load_file(DATA / "steps-params.yaml"))
    validate(p, {})
    assert dependencies(p) == {
        "generate": set(),
        "consume": {"generate"},
        "inner-upper": {"generate"},
        "last": {"consume", "inner-upper"},
    }
    assert task(p, "inner-upper").params["text"] == "$(tasks.generate.results.text)"
    assert task(p, "last").params["text"] == "$(tasks.inner-upper.results.text)!"


def test_nested_dag_roots_wait_for_callers_deps_and_dependents_wait_for_leaves() -> None:
    p = load(
        dag(
            """\
            - name: first
              template: echo
            - name: group
              depends: first
              template: pair
              when: "{{workflow.parameters.go}} == yes"
              arguments:
                parameters: [{name: text, value: "{{workflow.parameters.go}}"}]
            - name: after
              depends: group
              template: echo
            """,
            ECHO
            + """\
  - name: pair
    inputs:
      parameters: [{name: text}]
    dag:
      tasks:
      - name: x
        template: echo
        arguments: {parameters: [{name: msg, value: "{{inputs.parameters.text}}"}]}
      - {name: y, template: echo, depends: x}
      - {name: z, template: echo, depends: x}
""",
            "  arguments:\n    parameters: [{name: go, value: 'yes'}]\n",
        )
    )
    assert dependencies(p) == {
        "first": set(),
        "group-x": {"first"},
        "group-y": {"group-x"},
        "group-z": {"group-x"},
        "after": {"group-y", "group-z"},
    }
    assert task(p, "group-x").params == {"msg": "$(params.go)"}
    guard = [WhenExpression("$(params.go)", "in", ["yes"])]
    for name in ("group-x", "group-y", "group-z"):
        assert [(w.input, w.operator, w.values) for w in task(p, name).when] == [
            (g.input, g.operator, g.values) for g in guard
        ]
    assert task(p, "after").when == []


def test_single_container_entrypoint_is_a_one_task_pipeline() -> None:
    p = load(
        HEAD
        + """\
  entrypoint: echo
  arguments:
    parameters: [{name: msg, value: from-args}]
  templates:
"""
        + ECHO
    )
    assert [t.name for t in p.tasks] == ["echo"]
    assert task(p, "echo").params == {"msg": "$(params.msg)"}
    assert [(x.name, x.default) for x in p.params] == [("msg", "from-args")]


# --- expressions ---------------------------------------------------------------------------------


def test_workflow_and_pod_variables_in_a_template_become_bound_params() -> None:
    p = load(
        dag(
            "- {name: show, template: show}\n",
            """\
  - name: show
    retryStrategy: {limit: 1}
    container:
      image: alpine
      command: [echo]
      args: ["{{workflow.name}} {{workflow.namespace}} {{workflow.uid}}", "{{pod.name}}",
             "{{retries}}", "{{workflow.parameters.level}}"]
""",
            "  arguments:\n    parameters: [{name: level, value: '3'}]\n",
        )
    )
    step = p.task_library["show"].steps[0]
    assert step.args == [
        "$(params.workflow-name) $(params.workflow-namespace) $(params.workflow-uid)",
        "$(context.taskRun.name)",
        "$(context.task.retry-count)",
        "$(params.workflow-parameters-level)",
    ]
    assert task(p, "show").params == {
        "workflow-name": "$(context.pipelineRun.name)",
        "workflow-namespace": "$(context.pipelineRun.namespace)",
        "workflow-uid": "$(context.pipelineRun.uid)",
        "workflow-parameters-level": "$(params.level)",
    }


def test_output_path_variable_is_the_declared_path_when_the_body_writes_that_too() -> None:
    # Argo: `{{outputs.parameters.n.path}}` is `valueFrom.path`, so a script may write either
    p = load(
        dag(
            "- {name: w, template: w}\n",
            """\
  - name: w
    script:
      image: alpine
      command: [sh]
      source: echo {{outputs.parameters.n.path}}; echo 1 > /tmp/n
    outputs:
      parameters:
      - name: n
        valueFrom: {path: /tmp/n}
""",
        )
    )
    main, collect = p.task_library["w"].steps
    assert main.script == "echo /tmp/n; echo 1 > /tmp/n"
    assert "'/tmp/n'" in str(collect.script) and "$(results.n.path)" in str(collect.script)


@pytest.mark.parametrize("path", ["/tmp/n", "{{inputs.parameters.d}}/n"])
def test_output_path_variable_alone_writes_the_result_directly(path: str) -> None:
    p = load(
        dag(
            "- {name: w, template: w, arguments: {parameters: [{name: d, value: /tmp}]}}\n",
            f"""\
  - name: w
    inputs: {{parameters: [{{name: d}}]}}
    script:
      image: alpine
      command: [sh]
      source: echo 1 > {{{{outputs.parameters.n.path}}}}
    outputs:
      parameters:
      - name: n
        valueFrom: {{path: "{path}"}}
""",
        )
    )
    steps = p.task_library["w"].steps
    assert [s.script for s in steps] == ["echo 1 > $(results.n.path)"]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{{workflow.parameters.x}} == a", [("in", ["a"])]),
        ("a == {{workflow.parameters.x}}", [("in", ["a"])]),
        ("'{{workflow.parameters.x}}' == 'a b'", [("in", ["a b"])]),
        ('"{{workflow.parameters.x}}" != "a"', [("notin", ["a"])]),
        ("{{workflow.parameters.x}} == a || {{workflow.parameters.x}} == b", [("in", ["a", "b"])]),
        (
            "({{workflow.parameters.x}} == a || {{workflow.parameters.x}} == b)",
            [("in", ["a", "b"])],
        ),
        (
            "{{workflow.parameters.x}} != a && {{workflow.parameters.x}} != b",
            [("notin", ["a", "b"])],
        ),
        ("{{workflow.parameters.x}} in ('a', \"b\", 3)", [("in", ["a", "b", "3"])]),
        ("!({{workflow.parameters.x}} in (a, b))", [("notin", ["a", "b"])]),
        ("!({{workflow.parameters.x}} == a)", [("notin", ["a"])]),
        ("{{workflow.parameters.x}} == true", [("in", ["true"])]),
    ],
)
def test_when_forms(when: str, expected: list[tuple[str, list[str]]]) -> None:
    p = load(
        dag(
            "- name: t\n  template: echo\n  when: >-\n    " + when + "\n",
            spec="  arguments:\n    parameters: [{name: x, value: a}]\n",
        )
    )
    assert [(w.input, w.operator, w.values) for w in task(p, "t").when] == [
        ("$(params.x)", op, values) for op, values in expected
    ]


def test_when_conjunction_of_two_inputs_is_two_guards() -> None:
    p = load(
        dag(
            "- name: t\n  template: echo\n"
            '  when: "{{workflow.parameters.x}} == a && {{workflow.parameters.y}} != b"\n',
            spec="  arguments:\n    parameters: [{name: x, value: a}, {name: y, value: c}]\n",
        )
    )
    assert [(w.input, w.operator, w.values) for w in task(p, "t").when] == [
        ("$(params.x)", "in", ["a"]),
        ("$(params.y)", "notin", ["b"]),
    ]


@pytest.mark.parametrize(
    ("when", "ir"),
    [
        ("{{workflow.parameters.x}} =~ 'a.*'", "$(params.x) =~ 'a.*'"),
        ("{{workflow.parameters.x}} > 3", "$(params.x) > 3"),
        ("{{workflow.parameters.x}} == {{workflow.parameters.y}}", "$(params.x) == $(params.y)"),
        (
            "{{workflow.parameters.x}} == a || {{workflow.parameters.y}} == b",
            "$(params.x) == a || $(params.y) == b",
        ),
        ("{{workflow.parameters.x}}-suffix == a", "$(params.x)-suffix == a"),
    ],
)
def test_other_when_forms_are_govaluate_guards(when: str, ir: str) -> None:
    text = dag(
        "- name: t\n  template: echo\n  when: >-\n    " + when + "\n",
        spec="  arguments:\n    parameters: [{name: x, value: a}, {name: y, value: b}]\n",
    )
    guard = task(load(text), "t").when
    assert [(w.input, w.operator, w.values, w.govaluate) for w in guard] == [
        (ir, "in", ["true"], True)
    ]


@pytest.mark.parametrize(
    ("when", "why"),
    [
        ("{{workflow.parameters.x}} == a &&", "unexpected 'end of expression'"),
        ("({{workflow.parameters.x}} == a", "unbalanced parenthesis"),
        ("{{workflow.parameters.x}} == a {", "invalid token '{'"),
        ("{{workflow.parameters.nope}} == a", "no workflow parameter 'nope'"),
        ("{{=nope(workflow.parameters.x)}} == a", "unknown function nope"),
    ],
)
def test_bad_when_is_an_error_naming_the_line(when: str, why: str) -> None:
    text = dag(
        "- name: t\n  template: echo\n  when: >-\n    " + when + "\n",
        spec="  arguments:\n    parameters: [{name: x, value: a}, {name: y, value: b}]\n",
    )
    err = error(text)
    assert str(err).startswith(f"wf.yaml:{line_of(text, 'when:')}:")
    assert "when" in err.message and why in err.message


def test_task_status_succeeded_in_when_waits_and_inherits_guards() -> None:
    p = load(
        dag(
            """\
            - name: a
              template: echo
              when: "{{workflow.parameters.x}} == a"
            - name: b
              template: echo
              when: "{{tasks.a.status}} == Succeeded"
            """,
            spec="  arguments:\n    parameters: [{name: x, value: a}]\n",
        )
    )
    # "a succeeded" = a ran (not skipped by its guard) and, as a failure stops the run, passed.
    assert dependencies(p)["b"] == {"a"}
    assert [(w.input, w.values) for w in task(p, "b").when] == [("$(params.x)", ["a"])]


def test_task_status_failed_outside_exit_handler_is_a_predicate() -> None:
    p = load(
        dag(
            "- {name: a, template: echo}\n"
            "- {name: b, template: echo, when: '{{tasks.a.status}} == Failed'}\n"
        )
    )
    assert dependencies(p)["b"] == {"a"}
    assert Is("a", "Failed") in getattr(task(p, "b").depends, "operands", ())


def test_task_status_of_no_phase_outside_exit_handler_is_an_error() -> None:
    text = dag(
        "- {name: a, template: echo}\n"
        "- {name: b, template: echo, when: '{{tasks.a.status}} == Running'}\n"
    )
    err = error(text)
    assert "only a phase (Succeeded, Failed, Error, Skipped, Omitted) of one task" in err.message


def test_depends_succeeded_is_a_predicate_and_copies_no_guards() -> None:
    p = load(
        dag(
            """\
            - name: a
              template: echo
              when: "{{workflow.parameters.x}} != skip"
            - {name: plain, depends: a, template: echo}
            - {name: strict, depends: a.Succeeded, template: echo}
            """,
            spec="  arguments:\n    parameters: [{name: x, value: a}]\n",
        )
    )
    assert task(p, "plain").when == task(p, "strict").when == []
    assert task(p, "plain").depends == done("a")
    assert task(p, "strict").depends == Is("a", "Succeeded")
    assert task(p, "plain").run_after == task(p, "strict").run_after == ["a"]


@pytest.mark.parametrize(
    ("depends", "rendered"),
    [
        ("a.Failed", "a.Failed"),
        ("a || b", "a || b"),
        ("!a", "!a"),
        ("(a.Errored || a.Failed) && !b.Omitted", "(a.Errored || a.Failed) && !b.Omitted"),
    ],
)
def test_depends_after_a_failure_is_a_predicate(depends: str, rendered: str) -> None:
    text = dag(
        f"- {{name: a, template: echo}}\n- {{name: b, template: echo}}\n"
        f'- name: c\n  template: echo\n  depends: "{depends}"\n'
    )
    p = load(text)
    predicate = task(p, "c").depends
    assert predicate is not None and render(predicate) == rendered
    assert p.failure_policy == "continue"


def test_a_status_test_in_when_joins_the_predicate() -> None:
    p = load(
        dag(
            "- {name: a, template: echo}\n- {name: b, template: echo}\n"
            "- name: c\n  template: echo\n  depends: b.Failed\n"
            "  when: '{{tasks.a.status}} == Succeeded'\n"
        )
    )
    predicate = task(p, "c").depends
    assert predicate is not None and render(predicate) == "b.Failed && a.Succeeded"
    assert task(p, "c").run_after == ["a", "b"]


def test_depends_with_an_unknown_task_result_is_an_error() -> None:
    text = dag(
        '- {name: a, template: echo}\n- name: c\n  template: echo\n  depends: "a.Completed"\n'
    )
    err = error(text)
    assert str(err).startswith(f"wf.yaml:{line_of(text, 'depends:')}:")
    assert "unknown task result 'Completed'" in err.message


# --- retries, timeouts, exit handler ------------------------------------------------------------


def test_retries_and_timeouts() -> None:
    p = load(
        dag(
            "- {name: t, template: t}\n- {name: d, template: echo}\n",
            """\
  - name: t
    retryStrategy: {limit: "3", retryPolicy: Always}
    activeDeadlineSeconds: 90
    timeout: 1m
    container: {image: alpine, command: ["true"]}
"""
            + ECHO,
            "  activeDeadlineSeconds: 600\n  retryStrategy: {limit: 1}\n",
        )
    )
    assert (task(p, "t").retries, task(p, "t").timeout) == (3, 60.0)
    assert (task(p, "d").retries, task(p, "d").timeout) == (1, None)  # the workflow default
    assert p.timeout == 600.0
    # The pipeline keeps its own line (the workflow's), not that of the deadline field.
    assert p.source == load(dag("- {name: d, template: echo}\n")).source


@pytest.mark.parametrize(
    ("strategy", "why"),
    [
        ("{limit: 2, retryPolicy: Never}", "retryPolicy"),
        ("{retryPolicy: Always}", "`limit` is required"),
        ("{limit: '{{workflow.parameters.n}}'}", "expected an integer"),
        ("{limit: 2, expression: 'x > 1'}", "unknown variable 'x'"),
    ],
)
def test_retry_strategies_the_ir_cannot_express(strategy: str, why: str) -> None:
    text = dag(
        "- {name: t, template: t}\n",
        f"  - name: t\n    retryStrategy: {strategy}\n    container: {{image: a, command: [x]}}\n",
    )
    assert why in error(text).message


def test_exit_handler_steps_become_finally_tasks_with_status_mapping() -> None:
    p = load_argo(load_file(DATA / "exit-handler.yaml"))
    validate(p, {})
    assert [t.name for t in p.tasks] == ["intentional-fail"]
    assert [t.name for t in p.finally_tasks] == ["notify", "celebrate", "cry"]
    assert task(p, "notify").params == {"status": "$(tasks.status)"}
    assert [(w.input, w.operator, w.values) for w in task(p, "celebrate").when] == [
        ("$(tasks.status)", "in", ["Succeeded", "Completed"])
    ]
    assert [(w.input, w.operator, w.values) for w in task(p, "cry").when] == [
        ("$(tasks.status)", "notin", ["Succeeded", "Completed"])
    ]


def test_exit_handler_container_template_is_one_finally_task() -> None:
    p = load(dag("- {name: a, template: echo}\n", ECHO, "  onExit: echo\n"))
    assert [t.name for t in p.finally_tasks] == ["echo"]
    assert task(p, "echo").task_ref == "echo"


def test_ordered_exit_handler_is_an_error() -> None:
    text = dag(
        "- {name: a, template: echo}\n",
        ECHO + "  - name: bye\n    steps:\n    - - {name: one, template: echo}\n"
        "    - - {name: two, template: echo}\n",
        "  onExit: bye\n",
    )
    err = error(text)
    assert "finally tasks all run in parallel" in err.message
    assert str(err).startswith(f"wf.yaml:{line_of(text, 'name: two')}:")


def test_workflow_status_outside_the_exit_handler_is_running() -> None:
    text = dag(
        "- name: a\n  template: echo\n"
        "  arguments: {parameters: [{name: msg, value: '{{workflow.status}}'}]}\n"
    )
    assert task(load(text), "a").params["msg"] == "Running"  # as Argo's controller gives it


# --- loops ------------------------------------------------------------


def test_loops_become_matrices() -> None:
    p = load_argo(load_file(DATA / "loops.yaml"))
    validate(p, {})
    scalars = task(p, "scalars").matrix
    assert scalars is not None and scalars.params == {"value": ["item-1", "item-2", "item-3"]}
    maps = task(p, "maps").matrix
    assert maps is not None and maps.params == {}
    assert maps.include == [{"image": "debian", "tag": "9.1"}, {"image": "alpine", "tag": "3.6"}]
    each = task(p, "each").matrix
    assert each is not None and each.params == {"value": "$(tasks.gen.results.list[*])"}
    results = p.task_library["gen"].results
    assert [(r.name, r.type, r.value_from) for r in results] == [
        ("list", "array", "file"),
        ("result", "string", "stdout"),  # Argo's implicit outputs.result and exitCode
        ("exitCode", "string", "exit-code"),
    ]
    assert dependencies(p)["each"] == {"gen"}


def test_with_param_over_a_workflow_parameter_makes_an_array_param() -> None:
    p = load(
        dag(
            "- name: t\n  template: echo\n  withParam: '{{workflow.parameters.list}}'\n"
            "  arguments: {parameters: [{name: msg, value: '{{item}}'}]}\n",
            spec="  arguments:\n    parameters: [{name: list, value: '[\"a\", 2]'}]\n",
        )
    )
    assert [(x.name, x.type, x.default) for x in p.params] == [("list", "array", ["a", "2"])]
    matrix = task(p, "t").matrix
    assert matrix is not None and matrix.params == {"msg": "$(params.list[*])"}


def test_with_param_literal_json_is_a_literal_list() -> None:
    p = load(
        dag(
            '- name: t\n  template: echo\n  withParam: \'["a", "b"]\'\n'
            "  arguments: {parameters: [{name: msg, value: '<{{item}}>'}]}\n"
        )
    )
    matrix = task(p, "t").matrix
    assert matrix is not None and matrix.params == {"msg": ["<a>", "<b>"]}


@pytest.mark.parametrize(
    ("loop", "arg", "why"),
    [
        ("withItems: [[a], [b]]", "'{{item}}'", "scalars or mappings"),
        ("withItems: [{k: a}]", "'{{item.nope}}'", "no key 'nope'"),
        ("withSequence: {count: 'x'}", "'{{item}}'", "count must be an integer"),
        ("withParam: 'not json'", "'{{item}}'", "neither JSON"),
        ("", "'{{item}}'", "without a loop"),
    ],
)
def test_bad_loops(loop: str, arg: str, why: str) -> None:
    text = dag(
        f"- name: t\n  template: echo\n  {loop}\n"
        f"  arguments: {{parameters: [{{name: msg, value: {arg}}}]}}\n",
        spec="  arguments:\n    parameters: [{name: list, value: '[]'}]\n",
    )
    assert why in error(text).message


# --- unsupported Argo, bad input --------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "template", "needle", "field"),
    [
        ("", "  - name: t\n    plugin: {hello: {}}\n", "plugin:", "plugin"),
        ("", "  - name: t\n    suspend: {}\n", "suspend:", "suspend"),
        (
            "  artifactRepositoryRef: {bucket: k}\n",
            "",
            "artifactRepositoryRef",
            "bucket",
        ),
        (
            "",
            "  - name: t\n    outputs: {artifacts: [{name: a, path: /a, archive: {zip: {}}}]}\n"
            "    container: {image: a, command: [x]}\n",
            "outputs:",
            "zip",
        ),
        (
            "",
            "  - name: t\n    container:\n      {image: a, command: [x], envFrom: []}\n",
            "envFrom",
            "envFrom",
        ),
        (
            "",
            "  - name: t\n    container:\n      image: a\n      command: [x]\n"
            "      env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n",
            "env:",
            "valueFrom",
        ),
        (
            "",
            "  - name: t\n    outputs: {parameters: [{name: o, valueFrom: {jqFilter: .x}}]}\n"
            "    container: {image: a, command: [x]}\n",
            "outputs:",
            "jqFilter",
        ),
    ],
)
def test_fields_the_ir_cannot_express_name_field_and_line(
    spec: str, template: str, needle: str, field: str
) -> None:
    if not template:
        template = "  - name: t\n    container: {image: a, command: [x]}\n"
    text = dag("- {name: t, template: t}\n", template, spec)
    err = error(text)
    assert f"`{field}`" in err.message
    assert str(err).startswith(f"wf.yaml:{line_of(text, needle)}:")


def test_stdout_result_is_the_stdout_result_of_the_producer() -> None:
    text = dag(
        "- {name: a, template: echo}\n- name: b\n  template: echo\n  depends: a\n"
        "  arguments: {parameters: [{name: msg, value: '{{tasks.a.outputs.result}}'}]}\n"
    )
    p = load(text)
    assert task(p, "b").params["msg"] == "$(tasks.a.results.result)"
    stdout = [r for r in p.spec_of(task(p, "a")).results if r.name == "result"]
    assert [(r.value_from, r.step) for r in stdout] == [("stdout", "main")]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (HEAD + "  templates: []\n", "`entrypoint` is required"),
        (HEAD + "  entrypoint: nope\n  templates: []\n", "no template named 'nope'"),
        (
            dag(
                "- {name: a, template: echo, depends: b}\n- {name: b, template: echo, depends: a}\n"
            ),
            "dependency cycle",
        ),
        (dag("- {name: a, template: echo}\n- {name: a, template: echo}\n"), "duplicate task name"),
        (dag("- {name: a, template: echo, depends: zz}\n"), "unknown dependency 'zz'"),
        (dag("- {name: a, template: nope}\n"), "no template named 'nope'"),
        (
            dag(
                "- {name: a, template: echo,\n"
                "   arguments: {parameters: [{name: msg, value: '{{q}}'}]}}"
            ),
            "not supported here",
        ),
        (
            dag(
                "- {name: a, template: echo,\n"
                "   arguments: {parameters: [{name: msg, value: '{{=nope(1)}}'}]}}"
            ),
            "{{=nope(1)}}: unknown function nope",
        ),
        (
            HEAD.replace("kind: Workflow", "kind: Sensor") + "  entrypoint: a\n",
            "unsupported Argo kind",
        ),
        (
            HEAD
            + "  entrypoint: main\n  templates:\n  - name: main\n"
            + "    container: {image: a, command: [x]}\n"
            "    dag: {tasks: []}\n",
            "exactly one of",
        ),
    ],
)
def test_bad_input_is_a_clear_error(text: str, why: str) -> None:
    assert why in error(text).message


def test_a_template_without_a_value_for_a_required_input_is_an_error() -> None:
    text = dag(
        "- {name: a, template: need}\n",
        "  - name: need\n    inputs: {parameters: [{name: v}]}\n"
        "    container: {image: a, command: [echo, '{{inputs.parameters.v}}']}\n",
    )
    assert "input 'v' of template 'need' has no value" in error(text).message


def test_no_argo_documents_and_two_workflows() -> None:
    with pytest.raises(PipelineError, match=r"no argoproj\.io/v1alpha1 documents"):
        load_argo(load_documents("apiVersion: v1\nkind: ConfigMap\n", "x.yaml"))
    two = dag("- {name: a, template: echo}\n") + "---\n" + dag("- {name: a, template: echo}\n")
    with pytest.raises(PipelineError, match="more than one Workflow"):
        load_argo(load_documents(two, "x.yaml"))


def test_template_ref_and_workflow_template_ref_resolve_in_the_same_input() -> None:
    library = (
        """\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: lib
spec:
  entrypoint: main
  arguments:
    parameters: [{name: who, value: lib-default}]
  templates:
  - name: main
    dag:
      tasks:
      - name: hello
        template: echo
        arguments: {parameters: [{name: msg, value: "{{workflow.parameters.who}}"}]}
"""
        + ECHO
    )
    caller = dag(
        "- {name: one, templateRef: {name: lib, template: echo}}\n"
        "- name: two\n  templateRef: {name: lib, template: echo}\n  depends: one\n"
        "  arguments: {parameters: [{name: msg, value: x}]}\n",
        "",
    )
    p = load(library + "---\n" + caller)
    assert [(t.name, t.task_ref) for t in p.tasks] == [("one", "lib-echo"), ("two", "lib-echo")]
    assert task(p, "two").params == {"msg": "x"}
    runner = (
        HEAD
        + "  workflowTemplateRef: {name: lib}\n"
        + "  arguments:\n    parameters: [{name: who, value: me}]\n"
    )
    p = load(library + "---\n" + runner)
    assert [(x.name, x.default) for x in p.params] == [("who", "me")]
    assert task(p, "hello").params == {"msg": "$(params.who)"}
    missing = HEAD + "  workflowTemplateRef: {name: other}\n"
    with pytest.raises(PipelineError, match="'other' is not among the inputs"):
        load(missing)


def test_load_run_dispatches_argo_and_applies_params(tmp_path: Path) -> None:
    run = load_run([DATA / "conditionals.yaml"], {"coin": "tails"})
    assert run.params == {"coin": "tails"}
    assert [t.name for t in run.pipeline.tasks][:3] == ["flip", "heads", "tails"]


# --- scripts and the outputs step ------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "source", "script", "back"),
    [
        ("[sh]", "echo hi", "echo hi", ["sh"]),
        ("[python]", "print(1)", "#!/usr/bin/env python\nprint(1)", ["python"]),
        ("[/bin/bash, -e]", "echo", "#!/bin/bash -e\necho", ["/bin/bash", "-e"]),
        ("[bash, -e]", "echo", "#!/usr/bin/env -S bash -e\necho", ["bash", "-e"]),
        (
            "[python]",
            "#!/usr/bin/python3\nprint(1)",
            "#!/usr/bin/python3\nprint(1)",
            ["/usr/bin/python3"],
        ),
    ],
)
def test_script_templates_keep_their_interpreter(
    command: str, source: str, script: str, back: list[str]
) -> None:
    body = textwrap.indent(source, "        ")
    text = dag(
        "- {name: s, template: s}\n",
        f"  - name: s\n    script:\n      image: a\n      command: {command}\n"
        f"      source: |-\n{body}\n",
    )
    step = load(text).task_library["s"].steps[0]
    assert (step.script, step.command) == (script, [])
    # The emitter derives the interpreter back from the shebang (Argo runs `command FILE`).
    assert shebang_command(script) == back


def test_collector_script_round_trips_and_other_steps_are_not_collectors() -> None:
    outputs = [
        CollectedOutput("a", "/tmp/it's here.txt"),
        CollectedOutput("b", "$(workspaces.w.path)/b", default="fall'back\n"),
    ]
    step = collector_step(outputs)
    assert step.name == COLLECT_STEP
    assert parse_collector(step) == outputs
    assert parse_collector(Step(COLLECT_STEP, "busybox", script="echo hi")) is None
    edited = Step(COLLECT_STEP, "busybox", script=(step.script or "") + "rm -rf /\n")
    assert parse_collector(edited) is None


def test_container_set_chain_is_a_multi_step_task() -> None:
    text = dag(
        "- {name: t, template: cs}\n",
        """\
  - name: cs
    containerSet:
      containers:
      - {name: c, image: a, command: [three], dependencies: [b]}
      - {name: a, image: a, command: [one]}
      - {name: b, image: a, command: [two], dependencies: [a]}
""",
    )
    steps = load(text).task_library["cs"].steps
    assert [(s.name, s.command) for s in steps] == [
        ("a", ["one"]),
        ("b", ["two"]),
        ("c", ["three"]),
    ]
    # containers that do not form one chain run in a topological order, the DAG kept
    parallel = load(text.replace(", dependencies: [b]", "")).task_library["cs"].steps
    assert [(s.name, s.after) for s in parallel] == [("c", []), ("a", []), ("b", ["a"])]


def test_cron_workflow_runs_its_workflow_spec() -> None:
    text = """\
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  concurrencyPolicy: Forbid
  workflowSpec:
    entrypoint: echo
    templates:
""" + textwrap.indent(ECHO, "  ")
    p = load(text)
    assert (p.name, [t.name for t in p.tasks]) == ("nightly", ["echo"])


def test_volume_mount_sub_path_is_refused() -> None:
    text = dag(
        "- {name: t, template: t}\n",
        "  - name: t\n    container:\n      image: a\n      command: [x]\n"
        "      volumeMounts: [{name: work, mountPath: /w, subPath: s}]\n",
        "  volumes: [{name: work, emptyDir: {}}]\n",
    )
    err = error(text)
    assert "`subPath`" in err.message
    assert str(err).startswith(f"wf.yaml:{line_of(text, 'subPath')}:")


@pytest.mark.parametrize("depends", ["a && b", "(a && b)", "(a) && (b.Succeeded)", "a&&b"])
def test_depends_conjunctions(depends: str) -> None:
    p = load(
        dag(
            "- {name: a, template: echo}\n- {name: b, template: echo}\n"
            f'- name: c\n  template: echo\n  depends: "{depends}"\n'
        )
    )
    assert task(p, "c").run_after == ["a", "b"]
