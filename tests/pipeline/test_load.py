"""Loading runs: files and documents, choosing the pipeline, layering params, dispatch."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from foredeck.pipeline import argo as argo_front_end
from foredeck.pipeline.load import (
    load_pipeline_text,
    load_run,
    parse_param_args,
    run_from_documents,
    single_task_pipeline,
)
from foredeck.pipeline.model import ParamSpec, Pipeline, PipelineTask, ResultSpec, Step, TaskSpec
from foredeck.types import PipelineError, Source
from foredeck.yamlsrc import Document, load_documents

GOOD = Path(__file__).resolve().parents[1] / "data" / "pipelines" / "good"
MULTI = GOOD / "multi"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def fails_text(text: str, params: dict[str, object] | None = None) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        load_pipeline_text(textwrap.dedent(text), "inline.yaml", params)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    return info.value


PIPELINE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: {name}
spec:
  params:
    - name: env
      default: dev
    - name: list
      type: array
      default: [a]
    - name: obj
      type: object
      default: {{k: v}}
  tasks:
    - name: a
      taskSpec:
        steps: [{{name: s, image: alpine, command: [echo, "$(params.env)"]}}]
"""

RUN = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: run-1
spec:
  pipelineRef: {{name: {name}}}
  params:
    - name: env
      value: from-run
"""


def test_multi_file_run_loads_in_any_order() -> None:
    files = [MULTI / "run.yaml", MULTI / "tasks.yaml", MULTI / "pipeline.yaml"]
    first = load_run(files)
    second = load_run(list(reversed(files)))
    as_dir = load_run([MULTI])
    assert first.pipeline.name == "release"
    assert first.name == "release-run-"
    assert first.params == {"prefix": "v", "env": "staging", "extra": []}
    assert sorted(first.pipeline.task_library) == ["build", "generate"]
    assert [t.name for t in first.pipeline.tasks] == [t.name for t in second.pipeline.tasks]
    assert as_dir.params == first.params
    assert (first.pipeline.timeout, first.pipeline.tasks_timeout) == (3600.0, 2700.0)
    assert first.pipeline.finally_timeout == 900.0
    # sources point into the file each node came from
    assert first.pipeline.task_library["build"].source.file == str(MULTI / "tasks.yaml")
    assert first.pipeline.tasks[0].source.file == str(MULTI / "pipeline.yaml")


def test_param_layers_default_then_run_then_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", PIPELINE.format(name="p") + "---\n" + RUN.format(name="p"))
    assert load_run([path]).params["env"] == "from-run"
    assert load_run([path], {"env": "from-cli"}).params["env"] == "from-cli"
    alone = write(tmp_path, "alone.yaml", PIPELINE.format(name="p"))
    resolved = load_run([alone]).params
    assert resolved == {"env": "dev", "list": ["a"], "obj": {"k": "v"}}


def test_command_line_arrays_and_objects_are_json(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", PIPELINE.format(name="p"))
    run = load_run([path], {"list": '["x","y z"]', "obj": '{"k":"w"}'})
    assert run.params["list"] == ["x", "y z"]
    assert run.params["obj"] == {"k": "w"}
    assert load_run([path], {"list": ["already", "a list"]}).params["list"] == ["already", "a list"]
    with pytest.raises(PipelineError) as info:
        load_run([path], {"list": "a,b"})
    assert str(info.value) == (
        f"{path}:9: param 'list' is an array: give it as JSON of strings,"
        ' e.g. -p list=\'["a","b"]\''
    )
    with pytest.raises(PipelineError, match="param 'obj' is an object"):
        load_run([path], {"obj": '["not", "an object"]'})
    with pytest.raises(PipelineError, match="JSON of strings"):
        load_run([path], {"list": "[1, 2]"})


def test_unknown_command_line_param(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", PIPELINE.format(name="p"))
    with pytest.raises(PipelineError) as info:
        load_run([path], {"colour": "blue"})
    assert str(info.value) == (
        f"{path}:6: unknown param 'colour' given with -p; pipeline 'p' declares: env, list, obj"
    )


def test_parse_param_args() -> None:
    assert parse_param_args(["a=1", "b=x=y", "c=", " d =v"]) == {
        "a": "1",
        "b": "x=y",
        "c": "",
        "d": "v",
    }
    for bad in ["novalue", "=x"]:
        with pytest.raises(PipelineError, match="expected NAME=VALUE"):
            parse_param_args([bad])


def test_pipeline_run_chooses_among_several_pipelines(tmp_path: Path) -> None:
    one = write(tmp_path, "one.yaml", PIPELINE.format(name="one"))
    two = write(tmp_path, "two.yaml", PIPELINE.format(name="two"))
    run = write(tmp_path, "run.yaml", RUN.format(name="two"))
    assert load_run([one, two, run]).pipeline.name == "two"
    with pytest.raises(PipelineError, match="several Pipelines and no PipelineRun"):
        load_run([one, two])
    again = write(tmp_path, "again.yaml", PIPELINE.format(name="two"))
    with pytest.raises(PipelineError, match="duplicate Pipeline 'two'"):
        load_run([one, two, again, run])


def test_several_pipeline_runs_are_an_error(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", PIPELINE.format(name="p"))
    r1 = write(tmp_path, "r1.yaml", RUN.format(name="p"))
    r2 = write(tmp_path, "r2.yaml", RUN.format(name="p"))
    with pytest.raises(PipelineError) as info:
        load_run([p, r1, r2])
    assert str(info.value) == f"{r2}:1: several PipelineRuns (run-1, run-1); give exactly one"


def test_single_task_file_runs_as_one_task_pipeline() -> None:
    run = load_run([GOOD / "single-task.yaml"], {"packages": '["./a", "./b"]'})
    pipeline = run.pipeline
    assert [t.name for t in pipeline.tasks] == ["unit"]
    assert pipeline.tasks[0].task_ref == "unit"
    assert run.params == {"packages": ["./a", "./b"], "race": "false"}
    assert pipeline.tasks[0].params == {
        "packages": "$(params.packages[*])",
        "race": "$(params.race)",
    }
    assert [(w.name, w.optional) for w in pipeline.workspaces] == [("source", True)]
    assert pipeline.tasks[0].workspaces == {"source": "source"}
    assert [(r.name, r.value) for r in pipeline.results] == [
        ("summary", "$(tasks.unit.results.summary)")
    ]


def test_single_task_pipeline_exposes_array_params_and_results_whole() -> None:
    task = TaskSpec("t", [Step("s", command=["true"])], source=Source("t.yaml", 2))
    task.params = [ParamSpec("o", "object", {"k": "v"})]
    task.results = [ResultSpec("list", "array"), ResultSpec("one")]
    pipeline = single_task_pipeline(task)
    assert pipeline.tasks[0].params == {"o": "$(params.o[*])"}
    assert [r.value for r in pipeline.results] == [
        "$(tasks.t.results.list[*])",
        "$(tasks.t.results.one)",
    ]
    assert pipeline.source == Source("t.yaml", 2)


def test_several_tasks_without_pipeline(tmp_path: Path) -> None:
    text = (GOOD / "multi" / "tasks.yaml").read_text(encoding="utf-8")
    path = write(tmp_path, "tasks.yaml", text)
    with pytest.raises(PipelineError, match="several Tasks and no Pipeline or PipelineRun"):
        load_run([path])


def test_duplicate_tasks_across_files(tmp_path: Path) -> None:
    text = (MULTI / "tasks.yaml").read_text(encoding="utf-8")
    a = write(tmp_path, "a.yaml", text)
    b = write(tmp_path, "b.yaml", text)
    with pytest.raises(PipelineError) as info:
        load_run([a, b, MULTI / "pipeline.yaml"])
    assert str(info.value).startswith(f"{b}:")
    assert f"duplicate Task 'generate' (also at {a}:" in str(info.value)


def test_inline_text_loads_like_a_file() -> None:
    run = load_pipeline_text(PIPELINE.format(name="inline"), "jobs.yaml", {"env": "x"})
    assert (run.pipeline.name, run.params["env"]) == ("inline", "x")
    assert run.pipeline.source == Source("jobs.yaml", 6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "inline.yaml:1: no YAML documents found"),
        ("# only a comment\n", "inline.yaml:1: no YAML documents found"),
        ("just text\n", "inline.yaml:1: document must be a mapping, got str 'just text'"),
        ("kind: Pipeline\n", "inline.yaml:1: no apiVersion (supported: tekton.dev/v1,"),
        ("apiVersion: tekton.dev/v1alpha1\n", "inline.yaml:1: unsupported apiVersion"),
        ("apiVersion: v1\nkind: ConfigMap\n", "inline.yaml:1: ConfigMap: metadata.name is"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            "inline.yaml:1: no Tekton or Argo documents (only ConfigMap c)",
        ),
        ("apiVersion: argoproj.io/v1\n", "inline.yaml:1: unsupported apiVersion"),
    ],
)
def test_document_errors(text: str, message: str) -> None:
    assert str(fails_text(text)).startswith(message)


def test_unknown_pipeline_ref_lists_what_was_loaded(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", PIPELINE.format(name="p"))
    r = write(tmp_path, "r.yaml", RUN.format(name="q"))
    with pytest.raises(PipelineError) as info:
        load_run([p, r])
    assert (
        str(info.value) == f"{r}:6: PipelineRun 'run-1' refers to unknown Pipeline 'q' (loaded: p)"
    )


def test_path_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no pipeline files given"):
        load_run([])
    with pytest.raises(PipelineError, match="cannot read"):
        load_run([tmp_path / "missing.yaml"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PipelineError, match=r"directory has no \.yaml/\.yml files"):
        load_run([empty])
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PipelineError, match="not UTF-8"):
        load_run([binary])


def test_validation_runs_on_load() -> None:
    err = fails_text(
        """\
        apiVersion: tekton.dev/v1
        kind: Pipeline
        metadata: {name: p}
        spec:
          tasks:
            - name: a
              taskRef: {name: nope}
        """
    )
    assert str(err).startswith("inline.yaml:6: task 'a': unknown taskRef 'nope'")


ARGO = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec: {}
"""


def test_argo_documents_go_to_the_argo_front_end(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[Document]] = []

    def load_argo(documents: list[Document]) -> Pipeline:
        seen.append(documents)
        task = TaskSpec("t", [Step("s", command=["true"])])
        return Pipeline("wf", [PipelineTask("t", task_spec=task)])

    monkeypatch.setattr(argo_front_end, "load_argo", load_argo)  # imported when first needed
    run = load_pipeline_text(ARGO, "wf.yaml")
    assert run.pipeline.name == "wf"
    assert len(seen) == 1 and seen[0][0].source == Source("wf.yaml", 1)


def test_tekton_and_argo_cannot_be_mixed() -> None:
    text = PIPELINE.format(name="p") + "---\n" + ARGO
    assert "cannot mix Tekton and Argo documents" in str(fails_text(text))


def test_run_from_documents_needs_documents() -> None:
    with pytest.raises(PipelineError, match="no YAML documents found"):
        run_from_documents([])
    docs = load_documents(PIPELINE.format(name="p"), "x.yaml")
    assert run_from_documents(docs).pipeline.name == "p"
