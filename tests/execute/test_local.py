"""The local executor's semantics, driven with IR objects built in Python."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.runstate import RunEvent, RunResult
from foredeck.execute.step_files import shebang
from foredeck.execute.workspace import OutputDirError, RunLayout
from foredeck.pipeline.model import (
    Matrix,
    ParamSpec,
    ParamValue,
    Pipeline,
    PipelineResult,
    PipelineRunSpec,
    PipelineTask,
    ResultSpec,
    Step,
    TaskSpec,
    WhenExpression,
    WorkspaceDecl,
)
from foredeck.storage.tasklog import read_task_log
from foredeck.types import PipelineError
from tests.execute.helpers import max_overlap, pipeline, step, task, task_log

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


async def run(
    p: Pipeline, out: Path, params: dict[str, ParamValue] | None = None, **kwargs: Any
) -> RunResult:
    kwargs.setdefault("kill_grace", 0.5)
    return await run_pipeline(PipelineRunSpec(p, params or {}, name="r1"), out, **kwargs)


def intervals(result: RunResult) -> list[tuple[float, float]]:
    spans = [(r.started, r.finished) for r in result.tasks.values()]
    assert all(start is not None and end is not None for start, end in spans)
    return [(start, end) for start, end in spans if start is not None and end is not None]


async def test_results_flow_to_dependent_tasks_and_pipeline_results(tmp_path: Path) -> None:
    p = pipeline(
        task("build", 'printf "img:1.0\\n" > $(results.tag.path)', results=["tag"]),
        task(
            "deploy",
            'echo "deploying $(params.tag)" && printf "%s" "$(params.tag)" > $(results.seen.path)',
            task_params=["tag"],
            params={"tag": "$(tasks.build.results.tag)"},
            results=["seen"],
        ),
        results=[PipelineResult("image", "$(tasks.deploy.results.seen)")],
    )
    result = await run(p, tmp_path / "out")
    assert result.status == "Succeeded"
    # the trailing newline of the result file is stripped
    assert result.tasks["build"].results == {"tag": "img:1.0"}
    assert result.tasks["deploy"].results == {"seen": "img:1.0"}
    assert result.results == {"image": "img:1.0"}
    # deploy waited for build: an implicit edge from the result reference
    deploy, build = intervals(result)[1], intervals(result)[0]
    assert deploy[0] >= build[1]
    log = task_log(tmp_path / "out", "deploy")
    assert "deploying img:1.0" in log


async def test_array_and_object_results(tmp_path: Path) -> None:
    p = pipeline(
        task(
            "gen",
            """printf '["a", "b c"]' > $(results.list.path)
printf '{"k": "v"}' > $(results.obj.path)""",
            results=[ResultSpec("list", type="array"), ResultSpec("obj", type="object")],
        ),
        task(
            "use",
            steps=[
                Step(name="s", command=["printf", "<%s>\\n"], args=["$(params.items[*])"]),
                Step(name="t", command=["echo", "$(params.key)"]),
            ],
            task_params=["items", "key"],
            params={"items": "$(tasks.gen.results.list[*])", "key": "$(tasks.gen.results.obj.k)"},
        ),
    )
    result = await run(p, tmp_path / "out")
    assert result.status == "Succeeded", result.tasks["use"].reason
    assert result.tasks["gen"].results == {"list": ["a", "b c"], "obj": {"k": "v"}}
    log = task_log(tmp_path / "out", "use")
    assert "[use/s] <a>\n" in log and "[use/s] <b c>\n" in log  # one argv element per item
    assert "[use/t] v\n" in log


async def test_param_array_star_expands_into_separate_arguments(tmp_path: Path) -> None:
    p = pipeline(
        task(
            "t",
            steps=[Step(name="s", command=["printf", "[%s]\\n", "$(params.flags[*])"])],
            task_params=["flags"],
            params={"flags": "$(params.flags[*])"},
        ),
        params=[ParamSpec("flags", type="array", default=["--a", "x y", "$(not-a-ref)"])],
    )
    result = await run(p, tmp_path / "out")
    assert result.status == "Succeeded"
    lines = task_log(tmp_path / "out", "t").splitlines()
    printed = [line.split("[t/s] ", 1)[1] for line in lines if "[t/s] " in line]
    assert printed == ["[--a]", "[x y]", "[$(not-a-ref)]"]


async def test_when_false_skips_the_task_and_its_result_consumers_only(tmp_path: Path) -> None:
    """Tekton scopes `when` to the task: `runAfter` dependents still run, consumers do not."""
    guard = WhenExpression("$(params.env)", "in", ["prod"])
    p = pipeline(
        task("always", "echo ok"),
        task("guarded", "printf v > $(results.out.path)", when=[guard], results=["out"]),
        task("after", "echo after", run_after=["guarded"]),
        task(
            "consumer",
            "echo $(params.v)",
            task_params=["v"],
            params={"v": "$(tasks.guarded.results.out)"},
        ),
        task("after-consumer", "echo later", run_after=["consumer"]),
        task("notin", "echo ran", when=[WhenExpression("$(params.env)", "notin", ["prod"])]),
        params=[ParamSpec("env", default="dev")],
    )
    result = await run(p, tmp_path / "out")
    assert result.status == "Succeeded"  # skipping is not failing
    assert result.tasks["guarded"].status == "Skipped"
    assert "'dev' in ['prod']" in result.tasks["guarded"].reason
    assert result.tasks["after"].status == "Succeeded"
    assert result.tasks["consumer"].status == "Skipped"
    assert "guarded.out" in result.tasks["consumer"].reason
    # skipped for a missing result (not by its own `when`): its dependents are skipped too
    assert result.tasks["after-consumer"].status == "Skipped"
    assert result.tasks["notin"].status == "Succeeded"
    assert not (tmp_path / "out" / "artifacts" / "guarded").exists()  # never started
    result = await run(p, tmp_path / "out2", {"env": "prod"})
    assert result.tasks["guarded"].status == "Succeeded"
    assert result.tasks["after"].status == "Succeeded"
    assert result.tasks["consumer"].status == "Succeeded"
    assert result.tasks["after-consumer"].status == "Succeeded"
    assert result.tasks["notin"].status == "Skipped"


async def test_steps_get_a_private_tmpdir_per_run(tmp_path: Path) -> None:
    p = pipeline(task("t", 'printf %s "$TMPDIR" > "$ARTIFACTS/tmpdir"; touch "$TMPDIR/x"'))
    await run(p, tmp_path / "a")
    await run(p, tmp_path / "b")
    tmp_a = (tmp_path / "a" / "artifacts" / "t" / "tmpdir").read_text()
    tmp_b = (tmp_path / "b" / "artifacts" / "t" / "tmpdir").read_text()
    assert tmp_a != tmp_b
    assert Path(tmp_a).is_relative_to(tmp_path / "a") and (Path(tmp_a) / "x").exists()


async def test_retries_until_success_counts_attempts(tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    script = f"""n=$(cat {counter} 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > {counter}
echo "attempt $n retry-count $(context.task.retry-count)"
[ "$n" -ge 3 ]"""
    events: list[RunEvent] = []
    p = pipeline(task("flaky", script, retries=3), task("hopeless", "exit 4", retries=1))
    result = await run(p, tmp_path / "out", on_event=events.append)
    flaky = result.tasks["flaky"]
    assert flaky.status == "Succeeded"
    assert flaky.attempts == 3
    assert counter.read_text().strip() == "3"
    log = task_log(tmp_path / "out", "flaky")
    assert "attempt 3 retry-count 2" in log
    assert log.count("retrying") == 2
    hopeless = result.tasks["hopeless"]
    assert (hopeless.status, hopeless.attempts) == ("Failed", 2)
    assert "exited with code 4" in hopeless.reason
    retries = [e.task for e in events if e.kind == "task-retry"]
    assert retries.count("flaky") == 2 and retries.count("hopeless") == 1
    assert result.status == "Failed"


async def test_failure_stops_new_tasks_and_finally_sees_statuses(tmp_path: Path) -> None:
    p = pipeline(
        task("fails", "echo boom >&2; exit 3"),
        task("slow", "sleep 0.3; echo finished-anyway"),
        task("child", "echo never", run_after=["fails"]),
        task("late", "echo never", run_after=["slow"]),
        finally_tasks=[
            task(
                "report",
                "echo overall=$(tasks.status) fails=$(params.f) slow=$(tasks.slow.status)"
                " child=$(tasks.child.status)",
                task_params=["f"],
                params={"f": "$(tasks.fails.status)"},
            )
        ],
    )
    result = await run(p, tmp_path / "out", parallel=4)
    assert result.status == "Failed"
    assert result.tasks["fails"].status == "Failed"
    assert result.tasks["slow"].status == "Succeeded"  # running tasks run to completion
    assert result.tasks["child"].status == "Skipped"
    assert result.tasks["late"].status == "Skipped"
    assert result.tasks["late"].reason == "not started: the run failed"
    assert result.tasks["report"].status == "Succeeded"
    log = task_log(tmp_path / "out", "report")
    assert "overall=Failed fails=Failed slow=Succeeded child=None" in log
    finished = json.loads((tmp_path / "out" / "finished.json").read_text())
    assert (finished["passed"], finished["result"]) == (False, "FAILURE")


async def test_finally_task_failure_fails_the_run(tmp_path: Path) -> None:
    p = pipeline(task("ok", "true"), finally_tasks=[task("teardown", "exit 1")])
    result = await run(p, tmp_path / "out")
    assert result.tasks["ok"].status == "Succeeded"
    assert result.tasks["teardown"].status == "Failed"
    assert result.status == "Failed"


async def test_finally_referencing_a_missing_result_is_skipped(tmp_path: Path) -> None:
    p = pipeline(
        task("build", "exit 1", results=["tag"]),
        finally_tasks=[
            task(
                "push",
                "echo $(params.t)",
                task_params=["t"],
                params={"t": "$(tasks.build.results.tag)"},
            ),
            task("cleanup", "echo cleanup"),
        ],
    )
    result = await run(p, tmp_path / "out")
    assert result.tasks["push"].status == "Skipped"
    assert "build.tag" in result.tasks["push"].reason
    assert result.tasks["cleanup"].status == "Succeeded"


async def test_parallel_limit_is_honoured(tmp_path: Path) -> None:
    p = pipeline(*(task(f"t{i}", "sleep 0.15") for i in range(6)))
    started = time.monotonic()
    result = await run(p, tmp_path / "out", parallel=2)
    elapsed = time.monotonic() - started
    assert max_overlap(intervals(result)) == 2
    assert elapsed >= 3 * 0.15
    result = await run(p, tmp_path / "out1", parallel=1)
    assert max_overlap(intervals(result)) == 1


async def test_matrix_fans_out_and_aggregates_results(tmp_path: Path) -> None:
    build = task(
        "build",
        'echo "$(params.os)/$(params.arch)" && printf "%s-%s" $(params.os) $(params.arch)'
        " > $(results.bin.path)",
        task_params=["os", "arch"],
        results=["bin"],
        matrix=Matrix(
            params={"os": ["linux", "darwin"], "arch": "$(params.arches[*])"},
            include=[{"os": "windows", "arch": "amd64"}],
        ),
    )
    collect = task(
        "collect",
        steps=[Step(name="s", command=["printf", "%s\\n", "$(params.bins[*])"])],
        task_params=["bins"],
        params={"bins": "$(tasks.build.results.bin[*])"},
    )
    p = pipeline(
        build, collect, params=[ParamSpec("arches", type="array", default=["amd64", "arm64"])]
    )
    result = await run(p, tmp_path / "out", parallel=3)
    assert result.status == "Succeeded"
    names = [f"build[{i}]" for i in range(5)]
    assert result.tasks["build"].instances == names
    assert [result.tasks[n].params for n in names] == [
        {"os": "linux", "arch": "amd64"},
        {"os": "darwin", "arch": "amd64"},
        {"os": "linux", "arch": "arm64"},
        {"os": "darwin", "arch": "arm64"},
        {"os": "windows", "arch": "amd64"},
    ]  # Tekton's order: the first param varies fastest
    bins = ["linux-amd64", "darwin-amd64", "linux-arm64", "darwin-arm64", "windows-amd64"]
    assert result.tasks["build"].results == {"bin": bins}
    log = task_log(tmp_path / "out", "collect")
    assert [line.split("[collect/s] ")[1] for line in log.splitlines() if "/s] " in line] == bins
    assert task_log(tmp_path / "out", "build-4").count("windows/amd64")
    data = json.loads((tmp_path / "out" / "pipeline-run.json").read_text())
    assert data["tasks"]["build[1]"]["params"] == {"os": "darwin", "arch": "amd64"}
    assert data["tasks"]["build[1]"]["pipelineTask"] == "build"
    # The DAG's edges, implied by the result reference, for the dashboard's graph.
    assert data["tasks"]["collect"]["runAfter"] == ["build"]
    assert "runAfter" not in data["tasks"]["build"]


async def test_matrix_failure_fails_the_matrix_task(tmp_path: Path) -> None:
    p = pipeline(
        task(
            "t",
            '[ "$(params.n)" != 2 ]',
            task_params=["n"],
            matrix=Matrix(params={"n": ["1", "2", "3"]}),
        ),
        task("after", "true", run_after=["t"]),
    )
    result = await run(p, tmp_path / "out", parallel=3)
    assert result.tasks["t[1]"].status == "Failed"
    assert result.tasks["t[0]"].status == "Succeeded"
    assert result.tasks["t"].status == "Failed"
    assert result.tasks["after"].status == "Skipped"
    assert result.status == "Failed"


async def test_build_log_has_timestamps_and_prefixes(tmp_path: Path) -> None:
    p = pipeline(
        task(
            "t",
            steps=[
                step("echo out-line; echo err-line >&2; printf 'no-newline'", name="first"),
                step("printf 'a\\r\\nb\\n'", name="second"),
            ],
        )
    )
    result = await run(p, tmp_path / "out")
    assert result.status == "Succeeded"
    build_log = (tmp_path / "out" / "build-log.txt").read_text()
    for text in ("out-line", "err-line", "no-newline"):
        assert re.search(rf"^{STAMP} \[t/first\] {text}$", build_log, re.M), text
    assert re.search(rf"^{STAMP} \[t/second\] a$", build_log, re.M)  # CRLF ends a line too
    assert re.search(rf"^{STAMP} \[foredeck\] task t: Succeeded", build_log, re.M)
    own = task_log(tmp_path / "out", "t")
    assert re.search(rf"^{STAMP} \[t/first\] out-line$", own, re.M)
    assert "task t: Succeeded" not in own  # the run's messages are in the build log only


async def test_output_streams_while_the_step_runs(tmp_path: Path) -> None:
    release = tmp_path / "release"
    script = f"echo first-line; while [ ! -e {release} ]; do sleep 0.02; done; echo second-line"
    p = pipeline(task("t", script, timeout=10))
    runner = asyncio.create_task(run(p, tmp_path / "out"))
    log = tmp_path / "out" / "build-log.txt"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if log.exists() and "first-line" in log.read_text():
            break
        await asyncio.sleep(0.02)
    text = log.read_text()
    assert "first-line" in text and "second-line" not in text
    snapshot = json.loads((tmp_path / "out" / "pipeline-run.json").read_text())
    assert snapshot["status"] == "Running" and snapshot["finished"] is None
    assert not (tmp_path / "out" / "finished.json").exists()
    release.touch()
    result = await runner
    assert result.status == "Succeeded"
    assert "second-line" in log.read_text()


async def test_prow_files(tmp_path: Path) -> None:
    before = int(time.time())
    p = pipeline(
        task("t", 'echo "<testsuite/>" > "$ARTIFACTS/junit_t.xml"'),
        params=[ParamSpec("who", default="world")],
    )
    result = await run(p, tmp_path / "out", {"who": "you"})
    out = tmp_path / "out"
    started = json.loads((out / "started.json").read_text())
    finished = json.loads((out / "finished.json").read_text())
    assert before <= started["timestamp"] <= finished["timestamp"] <= int(time.time())
    assert started["metadata"] == {"pipeline": "test", "run": "r1", "params": {"who": "you"}}
    assert finished["passed"] is True and finished["result"] == "SUCCESS"
    assert finished["metadata"]["status"] == "Succeeded"
    assert (out / "artifacts" / "t" / "junit_t.xml").read_text() == "<testsuite/>\n"
    data = json.loads((out / "pipeline-run.json").read_text())
    assert data["status"] == "Succeeded" and data["name"] == "r1"
    entry = data["tasks"]["t"]
    assert entry["status"] == "Succeeded" and entry["attempts"] == 1 and entry["results"] == {}
    assert entry["started"].endswith("Z") and entry["finished"] >= entry["started"]
    assert entry["artifacts"] == "artifacts/t"
    assert "log" not in entry  # it printed nothing: no empty log file either
    assert not (out / "tasks" / "t").exists()
    assert result.prow_result == "SUCCESS"
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries


async def test_task_log_paths_are_recorded_for_sanitised_names(tmp_path: Path) -> None:
    p = pipeline(
        task("shows output", "echo hi"),
        task("m", "echo $(params.n)", task_params=["n"], matrix=Matrix(params={"n": ["1", "2"]})),
    )
    result = await run(p, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "pipeline-run.json").read_text())["tasks"]
    assert data["shows output"]["log"] == "tasks/shows_output/log.index"
    assert data["shows output"]["artifacts"] == "artifacts/shows_output"
    assert data["m[1]"]["log"] == "tasks/m-1/log.index"
    for name in ("shows output", "m[0]", "m[1]"):
        assert read_task_log(tmp_path / "out", data[name]["log"]).count(b"/main]") == 1
        assert (tmp_path / "out" / data[name]["artifacts"]).is_dir()
    assert result.tasks["m[0]"].log == "tasks/m-0/log.index"


async def test_workspaces_and_context(tmp_path: Path) -> None:
    writer = PipelineTask(
        name="write",
        task_spec=TaskSpec(
            name="write",
            steps=[step("echo data > $(workspaces.src.path)/file; echo $(context.taskRun.name)")],
            workspaces=[WorkspaceDecl("src")],
        ),
        workspaces={"src": "shared"},
    )
    reader = PipelineTask(
        name="read",
        task_spec=TaskSpec(
            name="read",
            steps=[step("cat $(workspaces.source.path)/file; pwd")],
            workspaces=[WorkspaceDecl("source")],
        ),
        workspaces={"source": "shared"},
        run_after=["write"],
    )
    result = await run(pipeline(writer, reader, workspaces=["shared"]), tmp_path / "out")
    assert result.status == "Succeeded"
    read_log = task_log(tmp_path / "out", "read")
    assert "[read/main] data" in read_log
    assert str((tmp_path / "out" / ".work" / "workspaces").resolve()) in read_log  # default cwd
    assert "[write/main] r1-write" in task_log(tmp_path / "out", "write")


async def test_unresolved_reference_fails_task_clearly_but_shell_syntax_is_kept(
    tmp_path: Path,
) -> None:
    result = await run(pipeline(task("bad", "echo $(params.nope)", retries=2)), tmp_path / "a")
    assert result.tasks["bad"].status == "Failed"
    assert "unresolved reference $(params.nope)" in result.tasks["bad"].reason
    assert result.tasks["bad"].attempts == 1  # retrying cannot fix the pipeline
    # `$(pwd)` has no root the executor owns: it is shell command substitution, left alone
    result = await run(pipeline(task("shell", "echo cwd=$(pwd)")), tmp_path / "b")
    assert result.tasks["shell"].status == "Succeeded"
    assert "[shell/main] cwd=/" in task_log(tmp_path / "b", "shell")


async def test_oversized_or_malformed_results_fail_the_task(tmp_path: Path) -> None:
    p = pipeline(
        task("big", "head -c 5000 /dev/zero | tr '\\0' x > $(results.r.path)", results=["r"]),
        task("arr", "printf 'not json' > $(results.a.path)", results=[ResultSpec("a", "array")]),
    )
    result = await run(p, tmp_path / "out")
    assert result.tasks["big"].status == "Failed"
    assert "4096-byte limit" in result.tasks["big"].reason
    assert result.tasks["arr"].status == "Failed"
    assert "not valid JSON" in result.tasks["arr"].reason


async def test_missing_program_and_shebang_scripts(tmp_path: Path) -> None:
    python = Step(
        name="py",
        script="#!/usr/bin/env python3\nimport sys\nprint('py', sys.argv[1:])",
        args=["x"],
    )
    p = pipeline(
        task("nocmd", steps=[Step(name="s", command=["/nonexistent/tool"])]),
        task("shebang", steps=[python]),
    )
    result = await run(p, tmp_path / "out")
    assert result.tasks["nocmd"].status == "Failed"
    assert "/nonexistent/tool" in result.tasks["nocmd"].reason
    assert result.tasks["shebang"].status == "Succeeded"
    assert "[shebang/py] py ['x']" in task_log(tmp_path / "out", "shebang")


async def test_param_without_value_is_an_input_error_before_any_file(tmp_path: Path) -> None:
    p = pipeline(task("t", "echo $(params.x)"), params=[ParamSpec("x")])
    with pytest.raises(PipelineError, match="param 'x' has no value"):
        await run(p, tmp_path / "out")
    assert not (tmp_path / "out").exists()


async def test_foreign_output_directory_is_refused_and_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(OutputDirError, match="not empty"):
        await run(pipeline(task("t", "true")), out)
    assert [p.name for p in out.iterdir()] == ["precious.txt"]
    assert (out / "precious.txt").read_text() == "keep me"


async def test_an_earlier_run_in_the_output_directory_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    await run(pipeline(task("old", 'echo x > "$ARTIFACTS/old.txt"')), out)
    (out / "notes.txt").write_text("mine")
    result = await run(pipeline(task("new", "true")), out)
    assert result.status == "Succeeded"
    assert not (out / "artifacts" / "old").exists()
    assert not (out / "tasks" / "old").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert "old" not in json.loads((out / "pipeline-run.json").read_text())["tasks"]


async def test_dangerous_task_names_stay_inside_the_run(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    result = await run(pipeline(task("../../escape", 'echo hi > "$ARTIFACTS/f"')), out)
    assert result.status == "Succeeded"
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "deep" / "escape").exists()
    assert [p.name for p in (out / "artifacts").iterdir()] == [".._.._escape"]


async def test_on_event_reports_the_run(tmp_path: Path) -> None:
    events: list[RunEvent] = []
    await run(
        pipeline(task("a", "true"), task("b", "true", run_after=["a"])),
        tmp_path / "o",
        on_event=events.append,
    )
    kinds = [(e.kind, e.task) for e in events]
    assert kinds == [
        ("run-started", None),
        ("task-started", "a"),
        ("task-finished", "a"),
        ("task-started", "b"),
        ("task-finished", "b"),
        ("run-finished", None),
    ]
    assert all(e.time > 0 for e in events)


def test_env_split_string_shebang_runs_without_gnu_env() -> None:
    """An Argo script's `command: [sh, -x]` is kept as `#!/usr/bin/env -S sh -x`; busybox's env
    (alpine) has no `-S`, so the words are given to env one by one, as Argo runs `sh -x`."""
    assert shebang("#! /usr/bin/env -S python3 -u \nprint()") == ["/usr/bin/env", "python3", "-u"]
    assert shebang("#!/usr/bin/env -S sh -x\necho") == ["/usr/bin/env", "sh", "-x"]


def test_shebang_is_read_as_the_kernel_reads_it() -> None:
    assert shebang("#!/bin/sh\necho") == ["/bin/sh"]
    assert shebang("#!/usr/bin/env -S 'py' -u \nprint()") == ["/usr/bin/env", "-S 'py' -u"]
    assert shebang("#!\ttcsh\t-f\n") == ["tcsh", "-f"]
    assert shebang("echo no shebang") is None
    assert shebang("#!\necho") is None


async def test_a_script_held_open_for_writing_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child forked by another thread (a git clone, a driver) may hold a just-written script
    open for writing: exec-ing the file then fails with ETXTBSY, reading it does not."""
    held: list[Any] = []
    write_script = RunLayout.script

    def script_kept_open(self: RunLayout, content: str) -> str:
        path = write_script(self, content)
        held.append(open(path, "ab"))  # noqa: SIM115 - open for the whole run, on purpose
        return path

    monkeypatch.setattr(RunLayout, "script", script_kept_open)
    p = pipeline(task("t", steps=[step("#!/bin/sh\necho from a busy script\n")]))
    try:
        result = await run(p, tmp_path / "out")
    finally:
        for handle in held:
            handle.close()
    assert held and result.status == "Succeeded"
    assert "from a busy script" in (tmp_path / "out" / "build-log.txt").read_text()
