"""Engine status mapping: Argo nodes and Tekton conditions/TaskRuns to the local vocabulary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from foredeck.execute.kube.argo import ArgoEngine
from foredeck.execute.kube.tekton import TektonEngine
from foredeck.pipeline.load import load_run

DATA = Path(__file__).resolve().parents[2] / "data" / "argo"


def node(name: str, phase: str, type_: str = "Pod", message: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "phase": phase,
        "type": type_,
        "message": message,
        "startedAt": "2026-01-01T00:00:01Z",
        "finishedAt": "2026-01-01T00:00:05Z",
    }


def workflow(phase: str, nodes: list[dict[str, Any]], message: str = "") -> dict[str, Any]:
    return {
        "metadata": {"name": "wf"},
        "status": {
            "phase": phase,
            "message": message,
            "nodes": {f"n{i}": n for i, n in enumerate(nodes)},
        },
    }


def test_argo_retries_exit_handler_and_run_phase() -> None:
    engine = ArgoEngine(load_run([DATA / "retries.yaml"]))
    view = engine.view(
        workflow(
            "Succeeded",
            [
                node("wf", "Succeeded", "DAG"),
                node("wf.flaky", "Succeeded", "Retry"),
                node("wf.flaky(0)", "Failed"),
                node("wf.flaky(1)", "Succeeded"),
                node("wf.after", "Skipped", "Skipped"),
            ],
        ),
        [],
        aborted=False,
    )
    assert view.phase == "Done" and view.status == "Succeeded"
    assert view.tasks["flaky"].status == "Succeeded" and view.tasks["flaky"].attempts == 2
    assert view.tasks["flaky"].started == 1767225601.0
    assert view.tasks["after"].status == "Skipped"

    engine = ArgoEngine(load_run([DATA / "exit-handler.yaml"]))
    view = engine.view(
        workflow(
            "Failed",
            [node("wf.intentional-fail", "Failed"), node("wf.onExit.notify", "Succeeded")],
            message="child 'wf-1' failed",
        ),
        [],
        aborted=False,
    )
    assert view.status == "Failed"
    assert view.tasks["intentional-fail"].status == "Failed"
    assert view.tasks["notify"].status == "Succeeded"


@pytest.mark.parametrize(
    ("phase", "message", "aborted", "expected"),
    [
        ("Running", "", False, None),
        ("Failed", "Stopped with strategy 'Terminate'", False, "Cancelled"),
        ("Error", "boom", True, "Cancelled"),
        ("Failed", "Max duration limit exceeded", False, "TimedOut"),
        ("Error", "pod deleted", False, "Failed"),
    ],
)
def test_argo_run_status(phase: str, message: str, aborted: bool, expected: str | None) -> None:
    engine = ArgoEngine(load_run([DATA / "retries.yaml"]))
    view = engine.view(workflow(phase, [], message), [], aborted=aborted)
    assert view.status == expected


def taskrun(task: str, status: str, reason: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"tekton.dev/pipelineTask": task}},
        "status": {"conditions": [{"type": "Succeeded", "status": status, "reason": reason}]},
    }


def pipelinerun(status: str, reason: str) -> dict[str, Any]:
    return {
        "status": {
            "conditions": [{"type": "Succeeded", "status": status, "reason": reason}],
            "startTime": "2026-01-01T00:00:01Z",
        }
    }


def test_tekton_matrix_instances_merge_to_the_worst() -> None:
    engine = TektonEngine(load_run([DATA / "loops.yaml"]))
    running = engine.view(
        pipelinerun("Unknown", "Running"),
        [taskrun("scalars", "True", "Succeeded"), taskrun("scalars", "Unknown", "Running")],
        aborted=False,
    )
    assert running.phase == "Running" and running.tasks["scalars"].status == "Running"
    done = engine.view(
        pipelinerun("False", "Failed"),
        [
            taskrun("scalars", "True", "Succeeded"),
            taskrun("scalars", "False", "Failed"),
            taskrun("gen", "False", "TaskRunCancelled"),
            taskrun("unknown", "True", "Succeeded"),
        ],
        aborted=False,
    )
    assert done.status == "Failed"
    assert done.tasks["scalars"].status == "Failed"
    assert done.tasks["gen"].status == "Cancelled"
    assert "unknown" not in done.tasks


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("True", "Succeeded", "Succeeded"),
        ("True", "Completed", "Succeeded"),
        ("False", "PipelineRunTimeout", "TimedOut"),
        ("False", "Cancelled", "Cancelled"),
        ("False", "StoppedRunningFinally", "Cancelled"),
        ("False", "Failed", "Failed"),
        ("False", "CouldntGetTask", "Failed"),
        ("Unknown", "Running", None),
    ],
)
def test_tekton_run_status(status: str, reason: str, expected: str | None) -> None:
    engine = TektonEngine(load_run([DATA / "loops.yaml"]))
    assert engine.view(pipelinerun(status, reason), [], aborted=False).status == expected


def test_pod_steps_skip_engine_containers_and_waiting_ones() -> None:
    pod = {
        "metadata": {
            "name": "p",
            "labels": {"workflows.argoproj.io/workflow": "wf"},
            "annotations": {"workflows.argoproj.io/node-name": "wf.flaky(1)"},
        },
        "spec": {"containers": [{"name": "wait"}, {"name": "main"}, {"name": "late"}]},
        "status": {
            "containerStatuses": [
                {"name": "wait", "state": {"running": {}}},
                {"name": "main", "state": {"terminated": {"exitCode": 0}}},
                {"name": "late", "state": {"waiting": {}}},
            ]
        },
    }
    steps = ArgoEngine(load_run([DATA / "retries.yaml"])).pod_steps(pod)
    assert [(s.task, s.step) for s in steps] == [("flaky", "main")]


def test_ui_links() -> None:
    from foredeck.execute.kube.runner import ui_link

    assert ui_link("argo", "https://argo.example/", "ci", "r-1") == (
        "https://argo.example/workflows/ci/r-1"
    )
    assert ui_link("tekton", "https://tkn.example", "ci", "r-1") == (
        "https://tkn.example/#/namespaces/ci/pipelineruns/r-1"
    )


SAMPLES = sorted(DATA.glob("*.yaml"))


@pytest.mark.parametrize("engine_name", ["argo", "tekton"])
@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_submitted_manifests_pass_the_doubles_schema_check(sample: Path, engine_name: str) -> None:
    """The runner's renaming and labels keep every sample valid for the double's validators."""
    from foredeck.execute.kube.runner import make_engine, resource_name
    from tests.execute.kube.kube_double import argo_validator, tekton_validator

    run = load_run([sample])
    engine = make_engine(engine_name, run)  # type: ignore[arg-type]
    doc = engine.manifest(run, resource_name(run, 12), {"foredeck.dev/job-id": "12"})
    doc["metadata"]["namespace"] = "ci"
    validator = argo_validator() if engine_name == "argo" else tekton_validator()
    assert [e.message for e in validator.iter_errors(doc)] == []
    assert doc["metadata"]["name"].startswith(resource_name(run, 12)[:-6])
