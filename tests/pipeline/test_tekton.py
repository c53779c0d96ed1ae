"""The Tekton v1 front end: each construct into the IR, and each unsupported one refused."""

from __future__ import annotations

import textwrap

import pytest

from foredeck.pipeline.model import Pipeline, TaskSpec
from foredeck.pipeline.tekton import TektonDocuments, parse_documents
from foredeck.types import PipelineError, Source
from foredeck.yamlsrc import load_documents

FILE = "t.yaml"


def parse(text: str) -> TektonDocuments:
    return parse_documents(load_documents(textwrap.dedent(text), FILE))


def one_task(text: str) -> TaskSpec:
    parsed = parse(text)
    assert len(parsed.tasks) == 1
    return parsed.tasks[0]


def one_pipeline(text: str) -> Pipeline:
    parsed = parse(text)
    assert len(parsed.pipelines) == 1
    return parsed.pipelines[0]


def fails(text: str) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        parse(text)
    assert "\n" not in str(info.value)
    return info.value


TASK_HEAD = """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: t
spec:
"""

PIPELINE_HEAD = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: p
spec:
"""


def task(body: str) -> str:
    return TASK_HEAD + textwrap.indent(textwrap.dedent(body).lstrip("\n"), "  ")


def pipeline(body: str) -> str:
    return PIPELINE_HEAD + textwrap.indent(textwrap.dedent(body).lstrip("\n"), "  ")


INLINE = "taskSpec: {steps: [{name: s, image: alpine, command: ['true']}]}"


# --- Task ---


def test_task_params_of_every_type_with_defaults_and_inference() -> None:
    spec = one_task(
        task(
            """
            params:
              - name: s
                description: a string
              - name: s2
                default: x
              - name: a
                type: array
                default: [one, two]
              - name: inferred-array
                default: [x]
              - name: o
                type: object
                properties: {k: {type: string}}
                default: {k: v}
              - name: inferred-object
                properties: {k: {type: string}}
              - name: number
                default: 3
              - name: flag
                default: true
            steps: [{name: s, image: alpine, command: ["true"]}]
            """
        )
    )
    got = {p.name: (p.type, p.default) for p in spec.params}
    assert got == {
        "s": ("string", None),
        "s2": ("string", "x"),
        "a": ("array", ["one", "two"]),
        "inferred-array": ("array", ["x"]),
        "o": ("object", {"k": "v"}),
        "inferred-object": ("object", None),
        "number": ("string", "3"),
        "flag": ("string", "true"),
    }
    assert spec.params[0].description == "a string"
    assert spec.params[0].source == Source(FILE, 7)
    assert spec.params[2].source == Source(FILE, 11)


def test_task_results_and_workspaces() -> None:
    spec = one_task(
        task(
            """
            results:
              - name: digest
                description: image digest
              - name: list
                type: array
            workspaces:
              - name: src
                readOnly: true
              - name: cache
                optional: true
                description: a cache
            steps: [{name: s, image: alpine, command: ["true"]}]
            """
        )
    )
    assert [(r.name, r.type, r.description) for r in spec.results] == [
        ("digest", "string", "image digest"),
        ("list", "array", ""),
    ]
    assert [(w.name, w.optional) for w in spec.workspaces] == [("src", False), ("cache", True)]
    assert spec.results[1].source.line == 9


def test_steps_keep_every_field_and_their_line() -> None:
    spec = one_task(
        task(
            """
            steps:
              - name: build
                image: golang:1.22
                command: [go, build]
                args: ["-o", "out", 3]
                env:
                  - name: A
                    value: "1"
                  - name: EMPTY
                workingDir: /src
                timeout: 1h30m
                imagePullPolicy: IfNotPresent
              - image: alpine
                script: |
                  #!/bin/sh
                  echo hi
            """
        )
    )
    build, unnamed = spec.steps
    assert build.name == "build"
    assert build.image == "golang:1.22"
    assert build.command == ["go", "build"]
    assert build.args == ["-o", "out", "3"]
    assert build.env == {"A": "1", "EMPTY": ""}
    assert build.working_dir == "/src"
    assert build.timeout == 5400.0
    assert build.script is None
    assert build.source == Source(FILE, 7)
    assert unnamed.name == "unnamed-1"
    assert unnamed.script == "#!/bin/sh\necho hi\n"
    assert unnamed.command == []
    assert unnamed.source == Source(FILE, 18)
    assert spec.source == Source(FILE, 6)


def test_step_template_supplies_image_env_and_working_dir() -> None:
    spec = one_task(
        task(
            """
            stepTemplate:
              image: base
              workingDir: /w
              env: [{name: A, value: template}, {name: B, value: template}]
            steps:
              - name: one
                command: ["true"]
                env: [{name: B, value: own}]
              - name: two
                image: own
                workingDir: /own
                command: ["true"]
            """
        )
    )
    one, two = spec.steps
    assert (one.image, one.working_dir, one.env) == ("base", "/w", {"A": "template", "B": "own"})
    assert (two.image, two.working_dir) == ("own", "/own")


def test_harmless_metadata_is_accepted() -> None:
    spec = one_task(
        """\
        apiVersion: tekton.dev/v1
        kind: Task
        metadata:
          name: t
          namespace: ci
          labels: {a: b}
          annotations: {c: d}
        spec:
          description: describes
          displayName: Nice name
          steps: [{name: s, image: alpine, command: ["true"]}]
        """
    )
    assert spec.name == "t"
    assert spec.description == "describes"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            "steps: [{name: s, image: a, command: [x], volumeMounts: []}]",
            6,
            "unsupported field 'volumeMounts'",
        ),
        ("volumes: []\nsteps: []", 6, "unsupported field 'volumes'"),
        (
            "steps:\n  - name: s\n    image: a\n    onError: ignore\n    command: [x]",
            9,
            "onError 'ignore' is not continue, stopAndFail or a param",
        ),
        (
            "steps:\n  - name: s\n    image: a\n    script: echo\n    command: [x]",
            9,
            "'script' cannot be used with 'command'",
        ),
        ("steps:\n  - name: s\n    timeout: soon\n    script: x", 8, "invalid duration 'soon'"),
        (
            "workspaces:\n  - name: w\n    mountPath: /x\nsteps: []",
            8,
            "'mountPath' is not supported",
        ),
        ("params:\n  - name: p\n    type: integer\nsteps: []", 8, "type 'integer' is not one of"),
        ("params:\n  - name: p\n    enum: [a]\n    default: b\nsteps: []", 9, "not in enum"),
        ("params:\n  - name: p\n    default: [a, [b]]\nsteps: []", 8, "array items must be str"),
        ("params:\n  - type: string\nsteps: []", 7, "missing required field 'name'"),
        ("params: {name: p}\nsteps: []", 6, "'params' must be a list"),
        ("params: [p]\nsteps: []", 6, "'params' items must be mappings"),
        ("steps:\n  - name: s\n    command: echo hi", 8, "'command' must be a list"),
        ("steps:\n  - name: s\n    command: [{a: b}]", 8, "'command' items must be strings"),
        ("steps:\n  - name: s\n    image: [a]\n    script: x", 8, "'image' must be a string"),
        ("results:\n  - name: r\n    value: x\nsteps: []", 8, "unsupported field 'value'"),
        ("stepTemplate: {command: [x]}\nsteps: []", 6, "unsupported field 'command'"),
        ("workspaces:\n  - name: w\n    optional: yes-please\nsteps: []", 8, "true or false"),
    ],
)
def test_task_errors_name_field_and_line(body: str, line: int, message: str) -> None:
    err = fails(TASK_HEAD + textwrap.indent(body, "  ") + "\n")
    assert err.source == Source(FILE, line)
    assert message in str(err)


def test_env_value_from_is_refused_with_the_field() -> None:
    err = fails(
        task(
            """
            steps:
              - name: s
                image: a
                command: [x]
                env:
                  - name: SECRET
                    valueFrom: {secretKeyRef: {name: n, key: k}}
            """
        )
    )
    assert err.source == Source(FILE, 12)
    assert "env 'SECRET': 'valueFrom' is not supported" in str(err)


def test_document_level_errors() -> None:
    assert "missing 'metadata.name'" in str(fails("apiVersion: tekton.dev/v1\nkind: Task\n"))
    err = fails("apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\n")
    assert "missing 'spec'" in str(err)
    err = fails("apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nstatus: {}\nspec: {}")
    assert err.source == Source(FILE, 4)
    assert "unsupported field 'status'" in str(err)
    err = fails("apiVersion: tekton.dev/v1\nmetadata: {name: t}\n")
    assert "no 'kind'" in str(err)
    err = fails("apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec: [a]\n")
    assert "'spec' must be a mapping, got a list" in str(err)


# --- Pipeline ---


def test_pipeline_with_every_construct() -> None:
    p = one_pipeline(
        pipeline(
            """
            description: all of it
            displayName: Everything
            params:
              - name: env
                default: dev
              - name: oses
                type: array
                default: [linux]
            workspaces:
              - name: shared
              - name: cache
                optional: true
            tasks:
              - name: gen
                displayName: Generate
                description: makes things
                taskRef: {name: generator, kind: Task}
                params:
                  - name: count
                    value: 3
                  - name: list
                    value: [a, "$(params.oses[*])"]
                  - name: obj
                    value: {k: v}
                workspaces:
                  - name: out
                    workspace: shared
                  - name: cache
              - name: build
                runAfter: [gen]
                retries: 2
                timeout: 10m
                when:
                  - input: $(params.env)
                    operator: in
                    values: [dev, prod]
                  - input: "$(tasks.gen.results.skip)"
                    operator: notin
                    values: ["yes"]
                matrix:
                  params:
                    - name: os
                      value: [linux, darwin]
                    - name: arch
                      value: $(tasks.gen.results.arches[*])
                  include:
                    - name: special
                      params:
                        - name: os
                          value: windows
                        - name: arch
                          value: arm64
                taskRef: {name: builder}
            finally:
              - name: cleanup
                timeout: "0"
                taskRef: {name: cleaner}
            results:
              - name: version
                description: the version
                value: $(tasks.gen.results.version)
            """
        )
    )
    assert p.name == "p"
    assert p.description == "all of it"
    assert [(x.name, x.type, x.default) for x in p.params] == [
        ("env", "string", "dev"),
        ("oses", "array", ["linux"]),
    ]
    assert [(w.name, w.optional) for w in p.workspaces] == [("shared", False), ("cache", True)]
    gen, build = p.tasks
    assert gen.task_ref == "generator"
    assert gen.task_spec is None
    assert gen.params == {"count": "3", "list": ["a", "$(params.oses[*])"], "obj": {"k": "v"}}
    assert gen.workspaces == {"out": "shared", "cache": "cache"}
    assert gen.source == Source(FILE, 19)
    assert build.run_after == ["gen"]
    assert (build.retries, build.timeout) == (2, 600.0)
    assert [(w.input, w.operator, w.values) for w in build.when] == [
        ("$(params.env)", "in", ["dev", "prod"]),
        ("$(tasks.gen.results.skip)", "notin", ["yes"]),
    ]
    assert build.when[0].source == Source(FILE, 39)
    assert build.matrix is not None
    assert build.matrix.params == {
        "os": ["linux", "darwin"],
        "arch": "$(tasks.gen.results.arches[*])",
    }
    assert build.matrix.include == [{"os": "windows", "arch": "arm64"}]
    (cleanup,) = p.finally_tasks
    assert (cleanup.name, cleanup.task_ref, cleanup.timeout) == ("cleanup", "cleaner", None)
    assert [(r.name, r.value, r.description) for r in p.results] == [
        ("version", "$(tasks.gen.results.version)", "the version")
    ]
    assert p.results[0].source == Source(FILE, 64)


def test_inline_task_spec_may_omit_name_and_carry_metadata() -> None:
    p = one_pipeline(
        pipeline(
            """
            tasks:
              - name: inline
                taskSpec:
                  metadata: {labels: {a: b}}
                  params: [{name: x, default: y}]
                  steps: [{name: s, image: alpine, command: [echo, $(params.x)]}]
            """
        )
    )
    spec = p.tasks[0].task_spec
    assert spec is not None
    assert spec.name == "inline"
    assert [s.name for s in spec.steps] == ["s"]
    assert spec.source == Source(FILE, 9)


def test_inline_specs_get_propagated_params_and_workspaces() -> None:
    p = one_pipeline(
        pipeline(
            """
            params:
              - name: msg
              - name: list
                type: array
            workspaces:
              - name: src
            tasks:
              - name: a
                taskSpec:
                  params: [{name: own, default: x}]
                  steps:
                    - name: s
                      image: alpine
                      workingDir: $(workspaces.src.path)
                      command: [echo, "$(params.msg)", "$(params.list[*])", "$(params.own)"]
            """
        )
    )
    (a,) = p.tasks
    assert a.task_spec is not None
    assert [(x.name, x.type) for x in a.task_spec.params] == [
        ("own", "string"),
        ("msg", "string"),
        ("list", "array"),
    ]
    assert a.params == {"msg": "$(params.msg)", "list": "$(params.list[*])"}
    assert [w.name for w in a.task_spec.workspaces] == ["src"]
    assert a.workspaces == {"src": "src"}


@pytest.mark.parametrize(
    ("task_body", "line", "message"),
    [
        ("- name: a\n  taskRef: {name: t}\n  taskSpec: {steps: []}", 7, "exactly one of"),
        ("- name: a", 7, "exactly one of taskRef, taskSpec, pipelineRef, pipelineSpec"),
        ("- name: Bad_Name\n  " + INLINE, 7, "DNS-1123 label"),
        ("- name: a\n  " + INLINE + "\n  onError: ignore", 9, "'onError' must be 'continue' or"),
        ("- name: a\n  taskRef: {name: t, kind: ClusterTask}", 8, "kind 'ClusterTask'"),
        ("- name: a\n  taskRef: {resolver: git}", 8, "remote resolution ('resolver')"),
        ("- name: a\n  taskRef: {name: t, apiVersion: x/v1}", 8, "custom tasks"),
        ("- name: a\n  taskSpec: {apiVersion: x/v1, kind: K}", 8, "custom tasks"),
        ("- name: a\n  " + INLINE + "\n  retries: two", 9, "'retries' must be an integer"),
        ("- name: a\n  " + INLINE + "\n  retries: true", 9, "'retries' must be an integer"),
        ("- name: a\n  " + INLINE + "\n  timeout: 5", 9, "must be a string like '1h30m'"),
        ("- name: a\n  " + INLINE + "\n  runAfter: b", 9, "'runAfter' must be a list"),
        (
            "- name: a\n  " + INLINE + "\n  when: [{input: x, operator: equals, values: [x]}]",
            9,
            "when operator 'equals'",
        ),
        (
            "- name: a\n  " + INLINE + "\n  when: [{input: x, operator: in, values: []}]",
            9,
            "when 'values' must not be empty",
        ),
        ("- name: a\n  " + INLINE + "\n  when: [{cel: 'has(x.y)'}]", 9, "unsupported at 'has("),
        (
            "- name: a\n  " + INLINE + "\n  when: [{operator: in, values: [x]}]",
            9,
            "missing required field 'input'",
        ),
        (
            "- name: a\n  " + INLINE + "\n  params: [{name: x, value: 1}, {name: x, value: 2}]",
            9,
            "duplicate param 'x'",
        ),
        ("- name: a\n  " + INLINE + "\n  params: [{name: x}]", 9, "param 'x' has no 'value'"),
        (
            "- name: a\n  " + INLINE + "\n  params: [{name: x, value: 1, default: 2}]",
            9,
            "unsupported field 'default'",
        ),
        ("- name: a\n  " + INLINE + "\n  matrix: {}", 9, "matrix has neither params nor include"),
        (
            "- name: a\n  " + INLINE + "\n  matrix: {params: [{name: x, value: {k: v}}]}",
            9,
            "must be an array or an expression",
        ),
        (
            "- name: a\n  "
            + INLINE
            + "\n  matrix: {include: [{name: i, params: [{name: x, value: [a]}]}]}",
            9,
            "matrix include param 'x' must be a string",
        ),
        (
            "- name: a\n  " + INLINE + "\n  matrix: {params: [], strategy: x}",
            9,
            "unsupported field 'strategy'",
        ),
        (
            "- name: a\n  " + INLINE + "\n  workspaces: [{name: w, subPath: [x]}]",
            9,
            "'subPath' must be a string",
        ),
        (
            "- name: a\n  " + INLINE + "\n  workspaces: [{name: w}, {name: w}]",
            9,
            "duplicate workspace 'w'",
        ),
    ],
)
def test_pipeline_task_errors_name_field_and_line(task_body: str, line: int, message: str) -> None:
    err = fails(PIPELINE_HEAD + "  tasks:\n" + textwrap.indent(task_body, "    ") + "\n")
    assert err.source == Source(FILE, line)
    assert message in str(err)


def test_pipeline_level_errors() -> None:
    err = fails(pipeline("tasks: []\nresults: [{name: r}]\n"))
    assert "result 'r': missing required field 'value'" in str(err)
    err = fails(pipeline("tasks: []\npipelineRef: {name: x}\n"))
    assert "unsupported field 'pipelineRef'" in str(err)
    err = fails(pipeline("workspaces: [{name: w, mountPath: /x}]\ntasks: []\n"))
    assert "unsupported field 'mountPath'" in str(err)


# --- PipelineRun ---

RUN_HEAD = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: r
spec:
"""


def test_pipeline_run_by_reference_with_params_and_timeouts() -> None:
    (run,) = parse(
        RUN_HEAD
        + textwrap.indent(
            textwrap.dedent(
                """\
                pipelineRef: {name: p}
                params:
                  - name: s
                    value: text
                  - name: a
                    value: [x, y]
                  - name: o
                    value: {k: v}
                timeouts:
                  pipeline: 1h
                  tasks: 40m
                  finally: 20m
                workspaces:
                  - name: shared
                    emptyDir: {}
                """
            ),
            "  ",
        )
    ).runs
    assert (run.name, run.pipeline_ref, run.pipeline) == ("r", "p", None)
    assert run.params == {"s": "text", "a": ["x", "y"], "o": {"k": "v"}}
    assert run.param_sources["a"] == Source(FILE, 10)
    assert (run.timeout, run.tasks_timeout, run.finally_timeout) == (3600.0, 2400.0, 1200.0)
    assert run.ref_source == Source(FILE, 6)


def test_pipeline_run_with_inline_spec_and_generate_name() -> None:
    (run,) = parse(
        """\
        apiVersion: tekton.dev/v1
        kind: PipelineRun
        metadata:
          generateName: ci-
        spec:
          params: [{name: extra, value: [a]}]
          pipelineSpec:
            tasks:
              - name: a
                taskSpec:
                  steps: [{name: s, image: alpine, command: [echo, "$(params.extra[*])"]}]
        """
    ).runs
    assert run.name == "ci-"
    assert run.pipeline is not None
    # PipelineRun params propagate into an inline pipelineSpec (and on into its inline tasks)
    assert [(p.name, p.type) for p in run.pipeline.params] == [("extra", "array")]
    assert run.pipeline.tasks[0].params == {"extra": "$(params.extra[*])"}


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("params: []", 6, "needs exactly one of pipelineRef, pipelineSpec"),
        ("pipelineRef: {name: p}\npipelineSpec: {tasks: []}", 6, "needs exactly one of"),
        ("pipelineRef: {resolver: hub}", 6, "remote resolution not supported"),
        ("pipelineRef: {name: p}\ntimeout: 1h", 7, "unsupported field 'timeout'"),
        ("pipelineRef: {name: p}\ntaskRunSpecs: [{podTemplate: {}}]", 7, "'pipelineTaskName'"),
        ("pipelineRef: {name: p}\nstatus: Cancelled", 7, "unsupported field 'status'"),
        ("pipelineRef: {name: p}\ntimeouts: {pipeline: forever}", 7, "invalid duration"),
        ("pipelineRef: {name: p}\ntimeouts: {total: 1h}", 7, "unsupported field 'total'"),
        (
            "pipelineRef: {name: p}\ntimeouts: {pipeline: 1h, tasks: 40m, finally: 30m}",
            7,
            "timeouts.tasks + timeouts.finally exceed timeouts.pipeline",
        ),
        ("pipelineRef: {name: p}\ntimeouts: {pipeline: 1h, finally: 2h}", 7, "timeouts.finally"),
    ],
)
def test_pipeline_run_errors(body: str, line: int, message: str) -> None:
    err = fails(RUN_HEAD + textwrap.indent(body, "  ") + "\n")
    assert err.source == Source(FILE, line)
    assert message in str(err)


def test_zero_pipeline_timeout_means_no_limit() -> None:
    (run,) = parse(RUN_HEAD + "  pipelineRef: {name: p}\n  timeouts: {pipeline: '0'}\n").runs
    assert run.timeout is None
