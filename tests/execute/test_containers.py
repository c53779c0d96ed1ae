"""Steps in their images with real podman (a private store, a busybox image built offline).

Each test runs few containers: a `podman run` costs a few tenths of a second here, more on a
busy machine, so nothing is timed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from foredeck.execute.containers import ContainerRun
from foredeck.execute.host import LocalExecutor
from foredeck.execute.local import run_pipeline
from foredeck.execute.podman import LABEL_HOST, LABEL_PID, LABEL_RUN, LABEL_START, owner_labels
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.load import load_pipeline_text
from foredeck.settings import Settings
from tests.child import child_env
from tests.execute.helpers import task_log
from tests.kit.step_image import ENTRYPOINT_SAYS, IMAGE, IN_IMAGE, StepImage, build_step_image
from tests.kit.wait import wait_for

HOST_ENV = {"PATH": os.environ["PATH"]}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepImage]:
    image = build_step_image(tmp_path_factory.mktemp("podman"))
    yield image
    image.remove_all()


async def run(
    text: str, out: Path, containers: ContainerRun | None, marker: str = "owner/run"
) -> RunResult:
    spec = load_pipeline_text(text, "p.yaml")
    return await run_pipeline(
        spec,
        out,
        env=HOST_ENV,
        containers=containers,
        parallel=8,
        kill_grace=0.5,
        marker=marker,
    )


IN_ITS_IMAGE = f"""\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {{name: in-image}}
spec:
  workspaces: [{{name: shared}}]
  tasks:
  - name: make
    workspaces: [{{name: src, workspace: shared}}]
    taskSpec:
      workspaces: [{{name: src}}]
      results: [{{name: word}}, {{name: said}}]
      steps:
      - name: look
        image: {IMAGE}
        workingDir: $(workspaces.src.path)/sub
        env: [{{name: GREETING, value: hello}}]
        computeResources: {{limits: {{cpu: 500m, memory: 64Mi}}}}
        script: |
          cat /etc/in-image
          test ! -e HOST_ONLY && echo "host file unseen"
          echo "pwd=$(pwd) greeting=$GREETING results=$(results.word.path)"
          echo made > made.txt
          printf blue > $(results.word.path)
          echo note > $ARTIFACTS/note.txt
      - name: who
        image: {IMAGE}
        securityContext: {{runAsUser: 1234}}
        script: id -u; echo by-1234 > $ARTIFACTS/user.txt
      - name: entry
        image: {IMAGE}
        args: [a, b]
        stdoutConfig: {{path: $(results.said.path)}}
  - name: use
    params: [{{name: w, value: $(tasks.make.results.word)}}]
    workspaces: [{{name: ws, workspace: shared}}]
    taskSpec:
      params: [{{name: w}}]
      workspaces: [{{name: ws}}]
      steps:
      - name: read
        image: {IMAGE}
        script: echo "$(params.w) $(cat $(workspaces.ws.path)/sub/made.txt)"
"""


async def test_a_step_runs_in_its_image_with_the_runs_paths(
    podman: StepImage, tmp_path: Path
) -> None:
    host_only = tmp_path / "host-only"
    host_only.write_text("the host's\n")
    text = IN_ITS_IMAGE.replace("HOST_ONLY", str(host_only))
    result = await run(text, tmp_path / "out", ContainerRun(podman.config()))

    assert {name: t.status for name, t in result.tasks.items()} == {
        "make": "Succeeded",
        "use": "Succeeded",
    }, (tmp_path / "out" / "build-log.txt").read_text()
    made = task_log(tmp_path / "out", "make")
    assert IN_IMAGE in made and "host file unseen" in made
    # Tekton's paths: the workspace and results where a pod has them; env and workingDir kept.
    assert "pwd=/workspace/src/sub greeting=hello results=/tekton/results/word" in made
    assert "[make/who] 1234" in made
    assert f"[make/entry] {ENTRYPOINT_SAYS} a b" in made  # args replace the image's CMD
    assert result.tasks["make"].results == {"word": "blue", "said": f"{ENTRYPOINT_SAYS} a b"}
    assert "[use/read] blue made" in task_log(tmp_path / "out", "use")
    workspace = tmp_path / "out" / ".work" / "workspaces" / "shared"
    assert (workspace / "sub" / "made.txt").read_text() == "made\n"
    assert (tmp_path / "out" / "artifacts" / "make" / "note.txt").read_text() == "note\n"
    assert (tmp_path / "out" / "artifacts" / "make" / "user.txt").read_text() == "by-1234\n"
    assert podman.containers(f"{LABEL_RUN}=owner/run") == []  # --rm


SAME_OUTCOMES = f"""\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {{name: same}}
spec:
  tasks:
  - name: ok
    taskSpec:
      results: [{{name: r}}]
      steps:
      - {{name: s, image: {IMAGE}, script: "printf yes > $(results.r.path)"}}
  - name: fails
    taskSpec:
      steps:
      - {{name: s, image: {IMAGE}, script: "exit 3"}}
  - name: tolerant
    taskSpec:
      results: [{{name: code}}]
      steps:
      - {{name: s, image: {IMAGE}, onError: continue, command: ["false"]}}
      - name: t
        image: {IMAGE}
        script: cat $(steps.step-s.exitCode.path) > $(results.code.path)
  - name: entry
    taskSpec:
      steps:
      - {{name: s, image: {IMAGE}, args: [hi]}}
  - name: later
    runAfter: [fails]
    taskSpec:
      steps:
      - {{name: s, image: {IMAGE}, command: ["true"]}}
"""


async def test_host_and_podman_give_the_same_outcomes_but_for_the_entrypoint_step(
    podman: StepImage, tmp_path: Path
) -> None:
    host = await run(SAME_OUTCOMES, tmp_path / "host", None)
    contained = await run(SAME_OUTCOMES, tmp_path / "podman", ContainerRun(podman.config()))

    def outcomes(result: RunResult) -> dict[str, str]:
        return {name: t.status for name, t in result.tasks.items()}

    expected = {"ok": "Succeeded", "fails": "Failed", "tolerant": "Succeeded"}
    expected["later"] = "Skipped"
    assert outcomes(host) == {**expected, "entry": "Failed"}
    assert outcomes(contained) == {**expected, "entry": "Succeeded"}
    assert "no command or script" in host.tasks["entry"].reason
    assert "host runtime" in host.tasks["entry"].reason
    assert host.tasks["ok"].results == contained.tasks["ok"].results == {"r": "yes"}
    assert host.tasks["tolerant"].results == contained.tasks["tolerant"].results == {"code": "1"}
    assert host.tasks["fails"].reason == contained.tasks["fails"].reason
    assert f"{ENTRYPOINT_SAYS} hi" in task_log(tmp_path / "podman", "entry")


STOPPED = f"""\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {{name: stopped}}
spec:
  tasks:
  - name: slow
    taskSpec:
      sidecars:
      - {{name: side, image: {IMAGE}, script: "echo side up; exec sleep 300"}}
      steps:
      - name: wait
        image: {IMAGE}
        timeout: 3s
        script: "echo waiting; exec sleep 300"
"""


async def test_a_timeout_kills_the_steps_container_and_its_sidecars(
    podman: StepImage, tmp_path: Path
) -> None:
    result = await run(STOPPED, tmp_path / "out", ContainerRun(podman.config()), "me/stopped")

    record = result.tasks["slow"]
    assert (record.status, record.reason) == ("TimedOut", "step timeout expired during step 'wait'")
    assert podman.containers(f"{LABEL_RUN}=me/stopped") == []
    log = task_log(tmp_path / "out", "slow")
    assert "[slow/sidecar:side] side up" in log and "[slow/wait] waiting" in log


ARGO = f"""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: argo-paths}}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {{name: gen, template: gen}}
    - - name: use
        template: use
        arguments:
          parameters:
          - {{name: file, value: "{{{{steps.gen.outputs.parameters.file}}}}"}}
          - {{name: said, value: "{{{{steps.gen.outputs.result}}}}"}}
  - name: gen
    script:
      image: {IMAGE}
      command: [sh]
      source: echo -n from-tmp > /tmp/out.txt; echo said-it
    outputs:
      parameters: [{{name: file, valueFrom: {{path: /tmp/out.txt}}}}]
  - name: use
    inputs: {{parameters: [{{name: file}}, {{name: said}}]}}
    container:
      image: {IMAGE}
      command: [echo, "{{{{inputs.parameters.file}}}} {{{{inputs.parameters.said}}}}"]
"""


async def test_argo_outputs_from_the_containers_tmp_and_stdout(
    podman: StepImage, tmp_path: Path
) -> None:
    result = await run(ARGO, tmp_path / "out", ContainerRun(podman.config()))

    assert result.status == "Succeeded", (tmp_path / "out" / "build-log.txt").read_text()
    assert "from-tmp said-it" in (tmp_path / "out" / "build-log.txt").read_text()


AUTO = f"""\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {{name: auto}}
spec:
  tasks:
  - name: present
    taskSpec:
      steps:
      - {{name: s, image: {IMAGE}, command: [cat, /etc/in-image]}}
  - name: absent
    taskSpec:
      steps:
      - {{name: s, image: localhost/foredeck-absent:1, script: "echo on the host"}}
"""


async def test_auto_runs_steps_whose_image_is_absent_on_the_host_with_a_note(
    podman: StepImage, tmp_path: Path
) -> None:
    config = podman.config("auto", pull="never")
    result = await run(AUTO, tmp_path / "out", ContainerRun(config))

    assert result.tasks["present"].status == result.tasks["absent"].status == "Succeeded"
    assert IN_IMAGE in task_log(tmp_path / "out", "present")
    assert "on the host" in task_log(tmp_path / "out", "absent")
    log = (tmp_path / "out" / "build-log.txt").read_text()
    note = "steps of image localhost/foredeck-absent:1 run on the host: image"
    assert note in log and "is not in podman's store (pull policy never)" in log


def test_the_local_executor_removes_containers_of_dead_owners_at_start(
    podman: StepImage, tmp_path: Path
) -> None:
    host = socket.gethostname()
    dead = [f"--label={LABEL_HOST}={host}", f"--label={LABEL_PID}={dead_pid()}"]
    dead.append(f"--label={LABEL_START}=1")
    elsewhere = [f"--label={LABEL_HOST}=elsewhere", *dead[1:]]
    for name, labels in (("dead", dead), ("live", owner_labels()), ("other", elsewhere)):
        podman.store.podman("create", f"--name={name}", *labels, IMAGE)
    settings = Settings.model_validate(
        {
            "containers": podman.settings(),
            "controller": {"workdir": str(tmp_path / "runs")},
            "database_url": f"sqlite:///{tmp_path / 'db.sqlite'}",
        }
    )

    LocalExecutor(settings)

    left = podman.containers()
    podman.store.podman("rm", "--force", "live", "other")
    assert sorted(left) == ["live", "other"]


QUICK = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: quick}
spec:
  tasks:
  - name: t
    taskSpec:
      steps: [{name: s, script: "echo done"}]
"""


def test_after_a_sigkill_of_foredeck_run_the_next_run_removes_its_container(
    podman: StepImage, tmp_path: Path
) -> None:
    (tmp_path / "slow.yaml").write_text(STOPPED.replace("timeout: 3s", "timeout: 300s"))
    (tmp_path / "quick.yaml").write_text(QUICK)
    env = {**child_env(), **podman.env()}
    env.pop("FOREDECK_CONFIG", None)
    argv = [sys.executable, "-m", "foredeck.cli", "run", "--runtime", "podman"]
    first = subprocess.Popen(
        [*argv, "--out", "out1", "slow.yaml"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    label = f"{LABEL_PID}={first.pid}"
    try:
        log = tmp_path / "out1" / "build-log.txt"
        wait_for("the step to run", lambda: log.exists() and "waiting" in log.read_text())
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert len(podman.containers(label)) == 2  # the step's and its sidecar's, still there

        second = subprocess.run(
            [*argv, "--out", "out2", "quick.yaml"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 0, second.stderr
        assert "removed 2 containers left by dead runs" in second.stderr
        assert podman.containers(label) == []
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
