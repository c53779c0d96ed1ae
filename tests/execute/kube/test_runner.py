"""`run_remote` against the Kubernetes API double, with a simulated Argo / Tekton controller."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from foredeck.censor import Censor
from foredeck.execute.kube import argo as kube_argo
from foredeck.execute.kube.client import KubeTarget
from foredeck.execute.kube.runner import RemoteOptions, RemoteRunError, run_remote
from foredeck.execute.logs import OutputLimit
from foredeck.execute.runstate import RunEvent, RunResult
from foredeck.pipeline.emit_argo import emit_argo
from foredeck.pipeline.load import load_run
from foredeck.pipeline.model import PipelineRunSpec
from tests.execute.helpers import task_log
from tests.execute.kube.engines import PIPELINERUNS, TASKRUNS, WORKFLOWS, ArgoSim, TektonSim
from tests.execute.kube.kube_double import KubeDouble
from tests.kit.kube import NAMESPACE
from tests.kit.wait import eventually

DATA = Path(__file__).resolve().parents[2] / "data"
FAST = RemoteOptions(backoff=0.05, log_grace=10.0)


@pytest.fixture
def diamond() -> PipelineRunSpec:
    return load_run([DATA / "argo" / "dag-diamond.yaml"])


class Run:
    """A `run_remote` task plus what it reported, for a test to drive."""

    def __init__(
        self,
        run: PipelineRunSpec,
        out: Path,
        engine: Any,
        target: KubeTarget,
        cancel: asyncio.Event | None = None,
        options: RemoteOptions = FAST,
        build_id: str | None = None,
    ) -> None:
        self.events: list[RunEvent] = []
        self.task = asyncio.ensure_future(
            run_remote(
                run,
                out,
                engine=engine,
                kube=target,
                job_id=42,
                cancel=cancel,
                on_event=self.events.append,
                options=options,
                build_id=build_id,
            )
        )

    async def result(self) -> RunResult:
        return await asyncio.wait_for(self.task, 30)

    def saw(self, kind: str, task: str | None = None) -> bool:
        return any(e.kind == kind and e.task == task for e in self.events)


async def created(double: KubeDouble, resource: tuple[str, str, str], run: Run) -> str:
    def name() -> str | None:
        if run.task.done():
            run.task.result()  # raise the executor's error instead of waiting
        names = double.names(resource, NAMESPACE)
        return names[0] if names and double.watches_open else None

    return await eventually(name, "the run to be created and watched")


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


async def test_argo_run_survives_a_dropped_watch_and_is_deleted_after(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = Run(diamond, out, "argo", kube_target)
    name = await created(kube_double, WORKFLOWS, run)
    wf = kube_double.get(WORKFLOWS, NAMESPACE, name)
    assert wf is not None
    assert wf["metadata"]["labels"]["foredeck.dev/job-id"] == "42"
    assert name.startswith("dag-diamond-42-")
    assert kube_double.rejected == []

    kube_double.drop_watch_after(1)
    sim = ArgoSim(kube_double, NAMESPACE, name)
    sim.running()
    dropped_at = kube_double.get(WORKFLOWS, NAMESPACE, name)["metadata"]["resourceVersion"]  # type: ignore[index]
    await eventually(lambda: kube_double.drops == 1, "the watch to drop")
    sim.task("A", "Running", logs="hello\n")
    await eventually(lambda: run.saw("task-started", "A"), "A to be seen running")
    sim.task("A", "Succeeded", logs="A done\n")
    for task in ("B", "C"):
        sim.task(task, "Succeeded", logs=f"hello-{task.lower()}\n")
    sim.task("D", "Succeeded", logs="hello-b+hello-c\n")
    sim.finish("Succeeded", outputs={"final": "hello-b+hello-c"})
    result = await run.result()

    assert result.status == "Succeeded"
    assert {t: r.status for t, r in result.tasks.items()} == dict.fromkeys("ABCD", "Succeeded")
    assert result.results == {"final": "hello-b+hello-c"}
    # The watch resumed from the last version it saw before the connection broke.
    versions = kube_double.watch_versions()
    assert dropped_at in versions[1:], versions
    assert kube_double.gone_sent == 0
    # Logs in the local executor's layout.
    build_log = (out / "build-log.txt").read_text()
    assert "[A/main] hello\n" in build_log and "[A/main] A done\n" in build_log
    assert "[D/main] hello-b+hello-c\n" in build_log
    assert "[A/wait]" not in build_log and "[A/init]" not in build_log  # Argo's containers
    assert "watch: 2 connections, 1 dropped, 0 gone (410), 1 reads" in build_log
    own = task_log(out, "A")
    assert "[A/main] hello\n" in own and "[A/main] A done\n" in own and "[D/" not in own
    assert result.tasks["A"].log == "tasks/A/log.index"
    finished = read_json(out / "finished.json")
    assert finished["result"] == "SUCCESS" and finished["passed"] is True
    assert read_json(out / "started.json")["metadata"]["engine"] == "argo"
    tasks = read_json(out / "pipeline-run.json")["tasks"]
    assert tasks["D"]["status"] == "Succeeded"
    # The DAG's edges, which the dashboard draws (a remote run's pipeline may be in its repo).
    assert {t: tasks[t].get("runAfter") for t in "ABCD"} == {
        "A": None,
        "B": ["A"],
        "C": ["A"],
        "D": ["B", "C"],
    }
    kinds = [e.kind for e in run.events]
    assert kinds[0] == "run-started" and kinds[-1] == "run-finished"
    # Removed once the files were written, with its pods.
    assert kube_double.get(WORKFLOWS, NAMESPACE, name) is None
    assert kube_double.pods == {}
    assert kube_double.count("DELETE", f"/workflows/{name}") == 1


async def test_tekton_failing_task_after_410_gone_relists(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = Run(diamond, out, "tekton", kube_target)
    name = await created(kube_double, PIPELINERUNS, run)
    pr = kube_double.get(PIPELINERUNS, NAMESPACE, name)
    assert pr is not None and pr["metadata"]["labels"]["foredeck.dev/job-id"] == "42"

    kube_double.drop_watch_after(2, compact=True)
    sim = TektonSim(kube_double, NAMESPACE, name)
    sim.running()
    sim.task("a", "Unknown", "Running", logs={"main": "start\n", "argo-outputs": ""})
    await eventually(lambda: kube_double.gone_sent == 1, "a resume from a compacted version")
    sim.task("a", "True", "Succeeded", logs={"main": "a ok\n", "argo-outputs": ""})
    sim.task("b", "False", "Failed", logs={"main": "boom\n"})
    sim.task("c", "True", "Succeeded", logs={"main": "c ok\n"}, retries=1)
    sim.finish(
        "False", "Failed", "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 1", skipped=["d"]
    )
    result = await run.result()

    assert result.status == "Failed"
    statuses = {t: r.status for t, r in result.tasks.items()}
    assert statuses == {"A": "Succeeded", "B": "Failed", "C": "Succeeded", "D": "Skipped"}
    assert result.tasks["C"].attempts == 2
    # 410 Gone made the executor read the object again and watch from the new version.
    item_gets = kube_double.count("GET", f"/pipelineruns/{name}")
    assert item_gets == 2
    assert kube_double.drops == 1
    build_log = (out / "build-log.txt").read_text()
    assert "[A/main] start\n" in build_log and "[B/main] boom\n" in build_log
    assert "1 gone (410), 2 reads" in build_log
    assert "[B/main] boom\n" in task_log(out, "B")
    assert read_json(out / "finished.json")["result"] == "FAILURE"
    assert kube_double.get(PIPELINERUNS, NAMESPACE, name) is None
    assert kube_double.names(TASKRUNS, NAMESPACE) == []


async def test_argo_abort_terminates_then_waits_for_the_end(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cancel = asyncio.Event()
    run = Run(diamond, out, "argo", kube_target, cancel=cancel)
    name = await created(kube_double, WORKFLOWS, run)
    sim = ArgoSim(kube_double, NAMESPACE, name)
    sim.running()
    sim.task("A", "Running", logs="long job\n")
    await eventually(lambda: run.saw("task-started", "A"), "A to be seen running")

    cancel.set()

    def shutdown() -> bool:
        wf = kube_double.get(WORKFLOWS, NAMESPACE, name)
        return wf is not None and wf["spec"].get("shutdown") == "Terminate"

    await eventually(shutdown, "spec.shutdown to be patched")
    assert not run.task.done()  # the run waits for Argo to stop it
    stopped = "Stopped with strategy 'Terminate'"
    sim.task("A", "Failed", message=stopped, code=143)
    sim.finish("Failed", stopped)
    result = await run.result()

    assert result.status == "Cancelled" and result.prow_result == "ABORTED"
    assert result.tasks["A"].status == "Cancelled"
    assert {result.tasks[t].status for t in "BCD"} == {"Cancelled"}
    assert read_json(out / "finished.json")["result"] == "ABORTED"
    assert "[A/main] long job\n" in (out / "build-log.txt").read_text()
    assert kube_double.get(WORKFLOWS, NAMESPACE, name) is None


async def test_an_abort_the_engine_never_answers_ends_after_the_grace(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    """An engine that takes the abort patch and then says nothing (a stuck controller) must
    not hold the job forever: after `abort_grace` the run ends Cancelled and is deleted."""
    out = tmp_path / "out"
    cancel = asyncio.Event()
    options = RemoteOptions(backoff=0.05, log_grace=1.0, abort_grace=0.5)
    run = Run(diamond, out, "argo", kube_target, cancel=cancel, options=options)
    name = await created(kube_double, WORKFLOWS, run)
    sim = ArgoSim(kube_double, NAMESPACE, name)
    sim.running()
    sim.task("A", "Running", logs="long job\n")
    await eventually(lambda: run.saw("task-started", "A"), "A to be seen running")
    cancel.set()
    result = await run.result()  # the simulated Argo never finishes the workflow
    assert result.status == "Cancelled" and result.prow_result == "ABORTED"
    assert {r.status for r in result.tasks.values()} == {"Cancelled"}
    assert "did not stop within 0.5s" in (out / "build-log.txt").read_text()
    assert kube_double.get(WORKFLOWS, NAMESPACE, name) is None


async def test_tekton_abort_patches_status_cancelled(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    cancel = asyncio.Event()
    cancel.set()  # before the run was even seen running
    run = Run(diamond, tmp_path / "out", "tekton", kube_target, cancel=cancel)
    name = await created(kube_double, PIPELINERUNS, run)

    def cancelled() -> bool:
        pr = kube_double.get(PIPELINERUNS, NAMESPACE, name)
        return pr is not None and pr["spec"].get("status") == "Cancelled"

    await eventually(cancelled, "spec.status to be patched")
    sim = TektonSim(kube_double, NAMESPACE, name)
    sim.running()
    sim.finish("False", "Cancelled", "PipelineRun was cancelled")
    result = await run.result()
    assert result.status == "Cancelled"
    assert {r.status for r in result.tasks.values()} == {"Cancelled"}
    assert kube_double.get(PIPELINERUNS, NAMESPACE, name) is None


async def test_tekton_timeout_is_timed_out(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    run = Run(diamond, tmp_path / "out", "tekton", kube_target)
    name = await created(kube_double, PIPELINERUNS, run)
    sim = TektonSim(kube_double, NAMESPACE, name)
    sim.running()
    sim.task("a", "False", "TaskRunTimeout", logs={"main": "slow\n"})
    sim.finish("False", "PipelineRunTimeout", "PipelineRun timed out after 1h")
    result = await run.result()
    assert result.status == "TimedOut" and result.prow_result == "FAILURE"
    assert result.tasks["A"].status == "TimedOut"
    assert result.tasks["B"].status == "Skipped"


async def test_invalid_manifest_is_refused_with_422(
    kube_double: KubeDouble,
    kube_target: KubeTarget,
    diamond: PipelineRunSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = emit_argo

    def broken(run: PipelineRunSpec) -> dict[str, Any]:
        doc = real(run)
        doc["spec"]["templates"][0]["dag"]["tasks"][1]["dependencies"] = "A"  # not a list
        return doc

    monkeypatch.setattr(kube_argo, "emit_argo", broken)
    out = tmp_path / "out"
    with pytest.raises(RemoteRunError, match=r"422 Workflow is invalid: spec\.templates\.0\.dag"):
        await run_remote(diamond, out, engine="argo", kube=kube_target, job_id=7, options=FAST)
    assert kube_double.names(WORKFLOWS, NAMESPACE) == []
    assert len(kube_double.rejected) == 1
    assert read_json(out / "finished.json")["result"] == "FAILURE"
    assert "Workflow is invalid" in (out / "build-log.txt").read_text()


async def test_wrong_token_is_unauthorised(
    kube_double: KubeDouble, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    config = kube_double.kubeconfig(tmp_path / "kc", namespace=NAMESPACE, token="wrong")
    target = KubeTarget(namespace=NAMESPACE, kubeconfig=str(config))
    with pytest.raises(RemoteRunError, match="401"):
        await run_remote(diamond, tmp_path / "out", engine="argo", kube=target, job_id=1)


async def test_deleted_from_outside_ends_the_run_failed(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    run = Run(diamond, tmp_path / "out", "argo", kube_target)
    name = await created(kube_double, WORKFLOWS, run)
    ArgoSim(kube_double, NAMESPACE, name).running()
    await eventually(lambda: len(kube_double.history) >= 2, "the running update")
    with kube_double.lock:
        obj = kube_double.objects.pop((WORKFLOWS, NAMESPACE, name))
        kube_double.rv += 1
        obj["metadata"]["resourceVersion"] = str(kube_double.rv)
        kube_double._record(WORKFLOWS, NAMESPACE, "DELETED", obj)
    result = await run.result()
    assert result.status == "Failed"
    assert "was deleted before it finished" in (tmp_path / "out" / "build-log.txt").read_text()


async def test_cancelling_the_coroutine_asks_the_engine_to_stop(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = Run(diamond, out, "argo", kube_target, build_id="1234")
    name = await created(kube_double, WORKFLOWS, run)
    run.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run.task
    wf = kube_double.get(WORKFLOWS, NAMESPACE, name)
    assert wf is not None and wf["spec"]["shutdown"] == "Terminate"  # left for the sinker
    # ... which finds it by its job and tells its attempt by the build id (tests/sinker).
    labels = wf["metadata"]["labels"]
    assert labels == {"foredeck.dev/job-id": "42", "foredeck.dev/build-id": "1234"}
    assert read_json(out / "finished.json")["result"] == "ABORTED"


async def test_a_build_id_that_is_no_label_value_labels_nothing(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    run = Run(diamond, tmp_path / "out", "tekton", kube_target, build_id="not/a label")
    name = await created(kube_double, PIPELINERUNS, run)
    pr = kube_double.get(PIPELINERUNS, NAMESPACE, name)
    assert pr is not None and "foredeck.dev/build-id" not in pr["metadata"]["labels"]
    run.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run.task


async def test_watch_resumes_after_the_server_ends_it(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    """A watch request ends cleanly at its `timeoutSeconds`; the next starts where it ended."""
    options = RemoteOptions(backoff=0.05, watch_timeout=1)
    run = Run(diamond, tmp_path / "out", "argo", kube_target, options=options)
    name = await created(kube_double, WORKFLOWS, run)
    sim = ArgoSim(kube_double, NAMESPACE, name)
    sim.running()
    running = kube_double.get(WORKFLOWS, NAMESPACE, name)["metadata"]["resourceVersion"]  # type: ignore[index]
    await eventually(lambda: len(kube_double.watch_versions()) >= 2, "a second watch request")
    assert kube_double.watch_versions()[1] == running
    for task in "ABCD":
        sim.task(task, "Succeeded", logs=f"{task}\n")
    sim.finish("Succeeded")
    result = await run.result()
    assert result.status == "Succeeded"
    assert "0 dropped, 0 gone (410), 1 reads" in (tmp_path / "out" / "build-log.txt").read_text()


async def test_unreadable_pods_lose_logs_not_the_outcome(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    kube_double.pods_forbidden = True
    run = Run(diamond, tmp_path / "out", "tekton", kube_target)
    name = await created(kube_double, PIPELINERUNS, run)
    sim = TektonSim(kube_double, NAMESPACE, name)
    sim.running()
    for task in "abcd":
        sim.task(task, "True", "Succeeded", logs={"main": "x\n"})
    sim.finish("True", "Succeeded")
    result = await run.result()
    assert result.status == "Succeeded"
    build_log = (tmp_path / "out" / "build-log.txt").read_text()
    assert '403 cannot list resource "pods"' in build_log
    assert "[A/main]" not in build_log


async def test_a_lost_watch_fails_the_run_and_removes_it(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    kube_double.watch_forbidden = True
    out = tmp_path / "out"
    with pytest.raises(RemoteRunError, match="403"):
        await run_remote(diamond, out, engine="argo", kube=kube_target, job_id=5, options=FAST)
    assert kube_double.count("POST", "/workflows") == 1
    assert kube_double.names(WORKFLOWS, NAMESPACE) == []  # not left running unobserved
    assert read_json(out / "finished.json")["result"] == "FAILURE"


async def test_remote_step_output_past_the_limit_is_dropped_and_said_so(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    limit = OutputLimit(500, "controller.max_output_bytes")
    options = RemoteOptions(backoff=0.05, log_grace=10.0, max_output=limit)
    run = Run(diamond, out, "argo", kube_target, options=options)
    name = await created(kube_double, WORKFLOWS, run)
    sim = ArgoSim(kube_double, NAMESPACE, name)
    sim.running()
    sim.task("A", "Succeeded", logs="".join(f"line {i}\n" for i in range(100)))
    for task in ("B", "C", "D"):
        sim.task(task, "Succeeded", logs=f"{task} ok\n")
    sim.finish("Succeeded", outputs={"final": "x"})
    assert (await run.result()).status == "Succeeded"
    log = (out / "build-log.txt").read_text()
    kept = [line for line in log.splitlines() if "/main] " in line]
    assert sum(len(line) + 1 for line in kept) <= 500 and "line 99" not in log
    cut = "output cut: step output after 500 bytes is dropped (controller.max_output_bytes)"
    assert cut in log and cut in task_log(out, "A")
    assert re.search(r"\[A/foredeck\] output cut: \d+ bytes of step 'main' dropped", log)


async def test_remote_pod_logs_are_censored(
    kube_double: KubeDouble, kube_target: KubeTarget, diamond: PipelineRunSpec, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    secret = "remote-secret-7c3e"
    options = RemoteOptions(backoff=0.05, log_grace=10.0, censor=Censor([secret]))
    run = Run(diamond, out, "argo", kube_target, options=options)
    name = await created(kube_double, WORKFLOWS, run)
    sim = ArgoSim(kube_double, NAMESPACE, name)
    sim.running()
    encoded = base64.b64encode(secret.encode()).decode()
    sim.task("A", "Succeeded", logs=f"token {secret}\nas base64 {encoded}\n")
    for task in ("B", "C", "D"):
        sim.task(task, "Succeeded", logs=f"{task} ok\n")
    sim.finish("Succeeded", outputs={"final": secret})
    assert (await run.result()).status == "Succeeded"
    log = (out / "build-log.txt").read_text()
    assert secret not in log and encoded not in log
    assert "[A/main] token CENSORED" in log and "[A/main] as base64 CENSORED" in log
    assert "token CENSORED" in task_log(out, "A")
    assert secret not in (out / "pipeline-run.json").read_text()
