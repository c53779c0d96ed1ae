"""Dependency predicates, continue-on failures, failure policies and stdout / exit-code results,
run by the local executor with IR objects built in Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from foredeck.execute.capture import STDOUT_LIMIT, StdoutTail
from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.model import (
    FailurePolicy,
    Matrix,
    Pipeline,
    PipelineResult,
    PipelineRunSpec,
    PipelineTask,
    ResultSpec,
    Step,
    WhenExpression,
)
from foredeck.pipeline.predicates import parse, tasks_of
from foredeck.pipeline.validate import validate
from foredeck.types import PipelineError
from tests.execute.helpers import pipeline, step, task, task_log

FAIL = "echo failing; exit 3"


def needs(t: PipelineTask, depends: str, *, continues: tuple[str, ...] = ()) -> PipelineTask:
    """`t` with an Argo `depends` predicate (its tasks also in run_after, as front ends do)."""
    t.depends = parse(depends)
    t.run_after = sorted(set(t.run_after) | set(tasks_of(t.depends)))
    t.continue_on = frozenset(continues)  # type: ignore[arg-type]
    return t


def policy(p: Pipeline, value: FailurePolicy) -> Pipeline:
    p.failure_policy = value
    return p


async def run(p: Pipeline, out: Path, **kwargs: Any) -> RunResult:
    validate(p, {})
    kwargs.setdefault("kill_grace", 0.5)
    return await run_pipeline(PipelineRunSpec(p, {}, name="r1"), out, parallel=2, **kwargs)


def statuses(result: RunResult) -> dict[str, str]:
    return {name: record.status for name, record in result.tasks.items()}


def fan_out(*extra: PipelineTask) -> list[PipelineTask]:
    """a; b (fails) and c after a; d runs on `b.Failed && c` (dag-continue-on-fail's shape)."""
    return [
        task("a", "true"),
        task("b", FAIL, run_after=["a"]),
        task("c", "true", run_after=["a"]),
        needs(task("d", "echo handled"), "b.Failed && c"),
        *extra,
    ]


async def test_a_failed_dependent_runs_and_handles_the_failure(tmp_path: Path) -> None:
    result = await run(policy(pipeline(*fan_out()), "continue"), tmp_path / "out")
    assert statuses(result) == {"a": "Succeeded", "b": "Failed", "c": "Succeeded", "d": "Succeeded"}
    # b's failure reached no leaf: d, which ran after it, is the branch's outcome (Argo's rule)
    assert result.status == "Succeeded"


async def test_a_failure_that_reaches_a_leaf_fails_the_run(tmp_path: Path) -> None:
    e = needs(task("e", "true"), "b")
    result = await run(policy(pipeline(*fan_out(e)), "continue"), tmp_path / "out")
    assert result.tasks["d"].status == "Succeeded"
    assert result.tasks["e"].status == "Skipped"
    assert result.tasks["e"].reason == "depends `b` is false: b Failed"
    assert result.status == "Failed"


async def test_continue_policy_keeps_starting_independent_tasks(tmp_path: Path) -> None:
    p = policy(
        pipeline(task("bad", FAIL), task("slow", "sleep 0.3"), task("later", run_after=["slow"])),
        "continue",
    )
    result = await run(p, tmp_path / "out")
    assert statuses(result) == {"bad": "Failed", "slow": "Succeeded", "later": "Succeeded"}
    assert result.status == "Failed"


async def test_stop_policy_starts_nothing_after_a_failure(tmp_path: Path) -> None:
    result = await run(pipeline(*fan_out()), tmp_path / "out")
    assert result.tasks["b"].status == "Failed"
    assert result.tasks["d"].status == "Skipped"
    assert result.tasks["d"].reason == "not started: the run failed"
    assert result.status == "Failed"


@pytest.mark.parametrize("value", ["stop", "continue"])
async def test_continue_on_failed_lets_dependents_run_and_the_run_pass(
    tmp_path: Path, value: FailurePolicy
) -> None:
    b = task("b", FAIL)
    b.continue_on = frozenset({"Failed"})
    p = policy(pipeline(b, task("c", "true", run_after=["b"]), task("other", "sleep 0.2")), value)
    result = await run(p, tmp_path / "out")
    assert statuses(result) == {"b": "Failed", "c": "Succeeded", "other": "Succeeded"}
    assert result.status == "Succeeded"


async def test_continue_on_errored_does_not_cover_a_failure(tmp_path: Path) -> None:
    b = task("b", FAIL)
    b.continue_on = frozenset({"Errored"})
    p = policy(pipeline(b, task("c", "true", run_after=["b"])), "continue")
    result = await run(p, tmp_path / "out")
    assert statuses(result) == {"b": "Failed", "c": "Skipped"}
    assert result.status == "Failed"


async def test_or_and_not(tmp_path: Path) -> None:
    p = policy(
        pipeline(
            task("ok", "true"),
            task("bad", FAIL),
            needs(task("either", "true"), "ok.Failed || bad.Failed"),
            needs(task("neither", "true"), "!(ok.Failed || bad.Failed)"),
            needs(task("not-ok", "true"), "!ok.Succeeded"),
            needs(task("after-omitted", "true"), "neither.Omitted && either"),
        ),
        "continue",
    )
    result = await run(p, tmp_path / "out")
    assert statuses(result) == {
        "ok": "Succeeded",
        "bad": "Failed",
        "either": "Succeeded",
        "neither": "Skipped",
        "not-ok": "Skipped",
        "after-omitted": "Succeeded",
    }


async def test_skipped_by_when_is_not_omitted(tmp_path: Path) -> None:
    guarded = task("guarded", "true", when=[WhenExpression("a", "in", ["b"])])
    p = policy(
        pipeline(
            guarded,
            needs(task("on-skip", "true"), "guarded.Skipped"),
            needs(task("on-omit", "true"), "guarded.Omitted"),
            needs(task("plain", "true"), "guarded"),
        ),
        "continue",
    )
    result = await run(p, tmp_path / "out")
    assert statuses(result) == {
        "guarded": "Skipped",
        "on-skip": "Succeeded",
        "on-omit": "Skipped",
        "plain": "Succeeded",
    }
    assert result.status == "Succeeded"


async def test_a_step_that_cannot_start_is_errored_not_failed(tmp_path: Path) -> None:
    broken = PipelineTask("broken", task_spec=task("x").task_spec)
    assert broken.task_spec is not None
    broken.task_spec.steps = [Step("main", command=["/nonexistent/program"])]
    p = policy(
        pipeline(
            broken,
            needs(task("on-error", "true"), "broken.Errored"),
            needs(task("on-failure", "true"), "broken.Failed"),
        ),
        "continue",
    )
    result = await run(p, tmp_path / "out")
    assert result.tasks["on-error"].status == "Succeeded"
    assert result.tasks["on-failure"].status == "Skipped"


async def test_any_succeeded_and_all_failed_read_a_fanned_out_task(tmp_path: Path) -> None:
    fan = task("fan", 'test "$(params.n)" = 2', task_params=["n"])
    fan.matrix = Matrix({"n": ["1", "2", "3"]})
    p = policy(
        pipeline(
            fan,
            needs(task("any", "true"), "fan.AnySucceeded"),
            needs(task("all", "true"), "fan.AllFailed"),
            needs(task("failed", "true"), "fan.Failed"),
        ),
        "continue",
    )
    result = await run(p, tmp_path / "out")
    assert [result.tasks[f"fan[{i}]"].status for i in range(3)] == [
        "Failed",
        "Succeeded",
        "Failed",
    ]
    assert [result.tasks[n].status for n in ("fan", "any", "all", "failed")] == [
        "Failed",
        "Succeeded",
        "Skipped",
        "Succeeded",
    ]


# --- stdout and exit-code results ---------------------------------------------------------------


def producer(script: str, name: str = "p") -> PipelineTask:
    return task(
        name,
        script,
        results=[
            ResultSpec("out", value_from="stdout"),
            ResultSpec("code", value_from="exit-code"),
        ],
    )


def reader(name: str, value: str, depends: str = "p") -> PipelineTask:
    t = task(name, 'printf "%s" "$(params.v)" > $(results.seen.path)', task_params=["v"])
    t.params = {"v": value}
    assert t.task_spec is not None
    t.task_spec.results = [ResultSpec("seen")]
    return needs(t, depends)


async def test_stdout_is_a_result_without_stderr_and_one_trailing_newline(tmp_path: Path) -> None:
    p = pipeline(
        producer("echo heads; echo noise >&2; printf 'x\\n\\n'"),
        reader("r", "[$(tasks.p.results.out)]/$(tasks.p.results.code)"),
    )
    result = await run(p, tmp_path / "out")
    assert result.status == "Succeeded"
    assert result.tasks["p"].results == {"out": "heads\nx\n", "code": "0"}
    assert result.tasks["r"].results == {"seen": "[heads\nx\n]/0"}
    log = task_log(tmp_path / "out", "p")
    assert "[p/main] heads" in log and "[p/main] noise" in log  # the log still has both


async def test_a_failed_tasks_stdout_and_exit_code_reach_its_failure_handler(
    tmp_path: Path,
) -> None:
    p = policy(
        pipeline(
            producer("echo partial; exit 7"),
            reader("r", "$(tasks.p.results.out) $(tasks.p.results.code)", "p.Failed"),
        ),
        "continue",
    )
    result = await run(p, tmp_path / "out")
    assert result.tasks["p"].status == "Failed"
    assert result.tasks["r"].results == {"seen": "partial 7"}
    assert result.status == "Succeeded"


async def test_stdout_that_nothing_reads_is_not_kept(tmp_path: Path) -> None:
    result = await run(pipeline(producer("echo unread")), tmp_path / "out")
    assert result.tasks["p"].results == {}


async def test_stdout_of_a_named_step_among_several(tmp_path: Path) -> None:
    p = task("p", steps=[step("echo first", "one"), step("echo second", "two")])
    assert p.task_spec is not None
    p.task_spec.results = [ResultSpec("out", value_from="stdout", step="one")]
    result = await run(
        pipeline(p, results=[PipelineResult("r", "$(tasks.p.results.out)")]), tmp_path / "out"
    )
    assert result.results == {"r": "first"}


async def test_stdout_keeps_its_last_256_kib(tmp_path: Path) -> None:
    script = "head -c 300000 /dev/zero | tr '\\0' a; printf 'END\\n'"
    p = pipeline(producer(script), results=[PipelineResult("r", "$(tasks.p.results.out)")])
    result = await run(p, tmp_path / "out")
    value = result.results["r"]
    assert isinstance(value, str)
    assert len(value) == STDOUT_LIMIT and value.endswith("aaaEND")
    assert "stdout result keeps the last 262144 bytes" in task_log(tmp_path / "out", "p")


def test_stdout_tail_trims_in_batches_and_keeps_the_tail() -> None:
    tail = StdoutTail(limit=10)
    for chunk in (b"0123456789", b"abcdefghij", b"KLMNO\n"):
        tail.feed(chunk)
    assert len(tail.buffer) <= 2 * 11
    assert tail.text() == "fghijKLMNO" and tail.cut
    short = StdoutTail(limit=10)
    short.feed(b"0123456789\n")
    assert short.text() == "0123456789" and not short.cut


def test_a_predicate_naming_an_unknown_task_is_a_validation_error() -> None:
    p = pipeline(task("a"), needs(task("b"), "a && zz.Failed"))
    p.tasks[1].run_after = ["a"]
    with pytest.raises(PipelineError, match="names unknown task 'zz'"):
        validate(p, {})


@pytest.mark.parametrize(
    ("result", "script", "why"),
    [
        (
            ResultSpec("out", value_from="stdout"),
            "echo x > $(results.out.path)",
            "$(results.out.path): result 'out' is a step's standard output, not a file to write",
        ),
        (
            ResultSpec("code", value_from="exit-code", step="nope"),
            "true",
            "result 'code' reads step 'nope', not a step",
        ),
    ],
)
def test_captured_results_are_checked(result: ResultSpec, script: str, why: str) -> None:
    t = task("t", script)
    assert t.task_spec is not None
    t.task_spec.results = [result]
    with pytest.raises(PipelineError) as info:
        validate(pipeline(t), {})
    assert why in str(info.value)


async def test_a_task_with_only_captured_results_gets_no_results_directory(tmp_path: Path) -> None:
    result = await run(pipeline(producer("echo hi")), tmp_path / "out")
    assert result.status == "Succeeded"
    results_dirs = [p for p in (tmp_path / "out").rglob("*") if p.name.startswith("p.")]
    assert results_dirs == []


@pytest.mark.parametrize(("value", "after"), [("continue", "Succeeded"), ("stop", "Skipped")])
async def test_an_empty_loop_is_skipped_and_argo_runs_its_dependents(
    tmp_path: Path, value: FailurePolicy, after: str
) -> None:
    fan = task("fan", "true", task_params=["n"])
    fan.matrix = Matrix({"n": "[]"})
    result = await run(policy(pipeline(fan, task("after", run_after=["fan"])), value), tmp_path)
    assert result.tasks["fan"].status == "Skipped"
    assert result.tasks["after"].status == after  # Argo: "Skipped, empty params" is Skipped
    assert result.status == "Succeeded"
