"""Argo artifacts on a host: stored in the run's repository, placed at their paths, passed on."""

from __future__ import annotations

import asyncio
import tarfile
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.sandbox import make_sandbox
from foredeck.pipeline.load import load_pipeline_text
from foredeck.pipeline.model import ParamValue

pytestmark = pytest.mark.timeout(60)

HEAD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: arts}
spec:
  entrypoint: main
"""


def run(
    text: str, tmp_path: Path, params: dict[str, ParamValue] | None = None
) -> tuple[str, dict[str, str], Path]:
    spec = load_pipeline_text(HEAD + text, "wf.yaml", params)
    out = tmp_path / "out"
    result = asyncio.run(run_pipeline(spec, out, parallel=2))
    statuses: dict[str, str] = {name: task.status for name, task in result.tasks.items()}
    return result.status, statuses, out


def repository(out: Path) -> Path:
    return out / ".work" / "workspaces" / "argo-artifacts"


def log(out: Path) -> str:
    return (out / "build-log.txt").read_text()


PASSING = """\
  templates:
    - name: main
      dag:
        tasks:
          - {name: make, template: make}
          - name: use
            depends: make
            template: use
            arguments:
              artifacts:
                - {name: in, from: "{{tasks.make.outputs.artifacts.out}}"}
    - name: make
      container:
        image: busybox
        command: [sh, -c, "printf 'hello art' > /tmp/hello.txt"]
      outputs:
        artifacts:
          - {name: out, path: /tmp/hello.txt}
    - name: use
      inputs:
        artifacts:
          - {name: in, path: /tmp/message}
      container:
        image: busybox
        command: [sh, -c, 'test "$(cat /tmp/message)" = "hello art"']
"""


def test_an_output_artifact_is_stored_as_tgz_and_placed_for_a_later_task(tmp_path: Path) -> None:
    status, tasks, out = run(PASSING, tmp_path)
    assert status == "Succeeded", log(out)
    assert tasks == {"make": "Succeeded", "use": "Succeeded"}
    stored = (
        repository(out) / "arts" / "arts-make" / "out.tgz"
    )  # workflow/pod/name.tgz  # workflow/pod/name.tgz
    with tarfile.open(stored, "r:gz") as archive:
        assert archive.getnames() == ["hello.txt"]
    assert not Path("/tmp/hello.txt").exists() or Path("/tmp/hello.txt").read_text() != "hello art"


DIRECTORY = """\
  templates:
    - name: main
      steps:
        - - {name: make, template: make}
        - - name: use
            template: use
            arguments:
              artifacts:
                - {name: tree, from: "{{steps.make.outputs.artifacts.tree}}"}
                - {name: flat, from: "{{steps.make.outputs.artifacts.flat}}"}
    - name: make
      script:
        image: busybox
        command: [sh]
        source: |
          mkdir -p /mnt/tree/a /mnt/flat
          echo one > /mnt/tree/a/one.txt
          echo two > /mnt/tree/two.txt
          echo three > /mnt/flat/three.txt
      outputs:
        artifacts:
          - {name: tree, path: /mnt/tree}
          - {name: flat, path: /mnt/flat, archive: {none: {}}}
    - name: use
      inputs:
        artifacts:
          - {name: tree, path: /work/tree}
          - {name: flat, path: /work/flat}
      script:
        image: busybox
        command: [sh]
        source: |
          test "$(cat /work/tree/a/one.txt)" = one
          test "$(cat /work/tree/two.txt)" = two
          test "$(cat /work/flat/three.txt)" = three
"""


def test_directory_artifacts_round_trip_archived_and_not(tmp_path: Path) -> None:
    status, _, out = run(DIRECTORY, tmp_path)
    assert status == "Succeeded", log(out)
    pod = repository(out) / "arts" / "arts-make"
    with tarfile.open(pod / "tree.tgz", "r:gz") as archive:
        assert sorted(archive.getnames()) == [
            "tree",
            "tree/a",
            "tree/a/one.txt",
            "tree/two.txt",
        ]
    assert (pod / "flat" / "three.txt").read_text() == "three\n"  # `archive: none`: a copy


KEY_ONLY = """\
  templates:
    - name: main
      dag:
        tasks:
          - {name: generate, template: generate}
          - {name: consume, template: consume, depends: generate}
    - name: generate
      container:
        image: busybox
        command: [sh, -c, "echo keyed > /mnt/file"]
      outputs:
        artifacts:
          - {name: file, path: /mnt/file, s3: {key: my/file}}
    - name: consume
      container:
        image: busybox
        command: [sh, -c, 'test "$(cat /tmp/file)" = keyed']
      inputs:
        artifacts:
          - {name: file, path: /tmp/file, s3: {key: my/file}}
"""


def test_a_key_only_artifact_is_stored_at_its_key(tmp_path: Path) -> None:
    status, _, out = run(KEY_ONLY, tmp_path)
    assert status == "Succeeded", log(out)
    with tarfile.open(repository(out) / "my" / "file", "r:gz") as archive:
        assert archive.getnames() == ["file"]


RAW = """\
  templates:
    - name: main
      inputs:
        artifacts:
          - name: tool
            path: /usr/local/bin/tool
            mode: 0755
            raw:
              data: |
                #!/bin/sh
                echo "it's {{inputs.artifacts.tool.path}}"
      container:
        image: busybox
        command: [sh, -c]
        args: ["test -x {{inputs.artifacts.tool.path}} && /usr/local/bin/tool | grep -q tool"]
"""


def test_a_raw_input_artifact_is_written_with_its_mode(tmp_path: Path) -> None:
    status, _, out = run(RAW, tmp_path)
    assert status == "Succeeded", log(out)


SAME_NAME = """\
  templates:
    - name: main
      inputs:
        artifacts:
          - {name: part, path: /mnt/in/part.txt, raw: {data: given}}
      container:
        image: busybox
        command: [sh, -c, 'mkdir -p /mnt/out && cat /mnt/in/part.txt > /mnt/out/part.txt']
      outputs:
        artifacts:
          - {name: part, path: /mnt/out/part.txt, archive: {none: {}}}
"""


def test_an_input_and_an_output_may_share_a_name(tmp_path: Path) -> None:
    """Argo keeps inputs and outputs apart (map-reduce's `part`): each is at its own path."""
    status, _, out = run(SAME_NAME, tmp_path)
    assert status == "Succeeded", log(out)
    assert (repository(out) / "arts" / "arts-main" / "part").read_text() == "given"


MISSING = """\
  templates:
    - name: main
      dag:
        tasks:
          - {name: make, template: make}
          - name: use
            depends: make
            template: use
            arguments:
              artifacts:
                - {name: in, from: "{{tasks.make.outputs.artifacts.out}}"}
    - name: make
      container: {image: busybox, command: [sh, -c, "true"]}
      outputs:
        artifacts:
          - {name: out, path: /tmp/never.txt, optional: OPTIONAL}
    - name: use
      inputs:
        artifacts:
          - {name: in, path: /tmp/in, optional: true}
      container: {image: busybox, command: [sh, -c, "test ! -e /tmp/in"]}
"""


def test_a_missing_output_artifact_fails_its_task(tmp_path: Path) -> None:
    status, tasks, out = run(MISSING.replace("OPTIONAL", "false"), tmp_path)
    assert status == "Failed"
    assert tasks["make"] == "Failed"
    assert "output artifact 'out': /tmp/never.txt does not exist" in log(out)


def test_an_optional_missing_artifact_is_fine(tmp_path: Path) -> None:
    status, tasks, out = run(MISSING.replace("OPTIONAL", "true"), tmp_path)
    assert status == "Succeeded", log(out)
    assert tasks == {"make": "Succeeded", "use": "Succeeded"}


UNKNOWN_KEY = """\
  templates:
    - name: main
      inputs:
        artifacts:
          - {name: in, path: /tmp/in, s3: {key: nowhere}}
      container: {image: busybox, command: [sh, -c, "true"]}
"""


def test_an_input_artifact_missing_from_the_repository_fails_the_task(tmp_path: Path) -> None:
    status, _, out = run(UNKNOWN_KEY, tmp_path)
    assert status == "Failed"
    assert "input artifact 'in': key nowhere is not in the run's artifact repository" in log(out)


HTTP = """\
  arguments:
    artifacts:
      - name: kubectl
        http: {url: "https://example.com/kubectl"}
  templates:
    - name: main
      inputs:
        artifacts:
          - {name: kubectl, path: /usr/local/bin/kubectl}
      container: {image: busybox, command: [sh, -c, "true"]}
"""


def test_an_http_artifact_needs_the_network_and_says_so(tmp_path: Path) -> None:
    status, _, out = run(HTTP, tmp_path)
    assert status == "Failed"
    assert "fetching https://example.com/kubectl needs the network" in log(out)


NESTED = """\
  templates:
    - name: main
      steps:
        - - {name: inner, template: inner}
        - - name: use
            template: use
            arguments:
              artifacts:
                - {name: in, from: "{{steps.inner.outputs.artifacts.result}}"}
    - name: inner
      dag:
        tasks:
          - {name: make, template: make}
      outputs:
        artifacts:
          - {name: result, from: "{{tasks.make.outputs.artifacts.out}}"}
    - name: make
      container:
        image: busybox
        command: [sh, -c, "echo nested > {{outputs.artifacts.out.path}}"]
      outputs:
        artifacts:
          - {name: out, path: /tmp/out.txt}
    - name: use
      inputs:
        artifacts:
          - {name: in, path: /tmp/in.txt}
      container: {image: busybox, command: [sh, -c, 'test "$(cat /tmp/in.txt)" = nested']}
"""


def test_a_dag_template_passes_an_inner_artifact_up(tmp_path: Path) -> None:
    status, _, out = run(NESTED, tmp_path)
    assert status == "Succeeded", log(out)


def test_artifacts_pass_between_sandboxed_steps(tmp_path: Path) -> None:
    """In bubblewrap every step has a private /tmp: the paths live in the repository."""
    sandbox, warning = make_sandbox("auto", network=False)
    if warning is not None:
        pytest.skip(f"bubblewrap cannot run here: {warning}")
    spec = load_pipeline_text(HEAD + PASSING, "wf.yaml")
    result = asyncio.run(run_pipeline(spec, tmp_path / "out", parallel=2, sandbox=sandbox))
    assert result.status == "Succeeded", log(tmp_path / "out")


LOOP = """\
  templates:
    - name: main
      steps:
        - - name: make
            template: make
            arguments: {parameters: [{name: word, value: "{{item}}"}]}
            withItems: [one, two, three]
    - name: make
      inputs: {parameters: [{name: word}]}
      container:
        image: busybox
        command: [sh, -c, "sleep 0.2; echo {{inputs.parameters.word}} > /tmp/word.txt"]
      outputs:
        artifacts:
          - {name: word, path: /tmp/word.txt, archive: {none: {}}}
"""


def test_looped_tasks_each_have_their_own_container_paths(tmp_path: Path) -> None:
    status, _, out = run(LOOP, tmp_path)
    assert status == "Succeeded", log(out)
    stored = sorted(repository(out).glob("arts/*/word"))
    assert sorted(p.read_text() for p in stored) == ["one\n", "three\n", "two\n"]
