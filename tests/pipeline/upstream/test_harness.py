"""The harness itself: stable reasons, missing commands, and each category on a small example."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from foredeck.execute.sandbox import Sandbox
from foredeck.types import PipelineError, Source
from tests.kit.containers import Store
from tests.kit.standins import standin_gaps
from tests.pipeline.upstream import catalog
from tests.pipeline.upstream.catalog import Engine, Example
from tests.pipeline.upstream.reasons import error_reason, missing_commands
from tests.pipeline.upstream.runner import (
    MATCHED,
    MATCHED_IN_CONTAINERS,
    NEEDS_COMMAND,
    OUT_OF_SCOPE,
    REFUSED,
    WRONG,
    WRONG_IN_CONTAINERS,
    Outcome,
    container_run,
    ledger_text,
    load,
    run_example,
    table,
)


def reason(message: str, file: str = "/tmp/tmpab12/x.yaml") -> str:
    return error_reason(PipelineError(Source(file, 7), message))


def test_a_reason_keeps_the_gist_and_drops_names_and_places() -> None:
    assert (
        reason(
            "template 'main' step 'hello': `continueOn` is not supported (the IR cannot express it)"
        )
        == "`continueOn` is not supported"
    )
    assert (
        reason(
            "template 'main' task 'b' argument 'x': {{tasks.a.outputs.result}}: outputs.result"
            " (stdout) is not supported: write the value to a file"
        )
        == "outputs.result is not supported"
    )
    assert reason("unsupported apiVersion 'v1' (supported: a, b)") == "unsupported apiVersion 'v1'"
    assert reason("duplicate Pipeline 'p' (also at /tmp/q1/y.yaml:3)") == "duplicate Pipeline '…'"
    assert (
        reason("task 'a' step 'main' has neither 'command' nor 'script'")
        == "step '…' has neither 'command' nor 'script'"
    )
    assert (
        reason("template 'w' task 'D': `depends: B.Failed && C`: only `A` is supported; more")
        == "`depends`: only `A` is supported"
    )


def test_a_report_of_several_errors_is_judged_by_its_first() -> None:
    class Report(Exception):
        def __init__(self, errors: list[PipelineError]) -> None:
            super().__init__("2 errors")
            self.errors = errors

    first = PipelineError(Source("a.yaml", 1), "template 'm': `daemon` is not supported")
    second = PipelineError(Source("a.yaml", 9), "unknown variable $(context.x)")
    assert error_reason(Report([first, second])) == "`daemon` is not supported"
    listed = PipelineError(Source("a.yaml", 1), f"2 errors:\n  {first}\n  {second}")
    assert error_reason(listed) == "`daemon` is not supported"


def test_missing_commands_come_from_commands_shell_lines_and_entrypoints(tmp_path: Path) -> None:
    file = tmp_path / "w.yaml"
    file.write_text(
        "spec:\n"
        "  templates:\n"
        "  - container: {image: argoproj/argosay:v2, command: [no-such-argosay], args: [echo]}\n"
        "  - container: {image: busybox, command: [sh, -c], args: ['no-such-cowsay hi; echo']}\n"
        "  - container: {image: alpine, args: [hello]}\n"
        '  - script: {image: python:alpine, command: [sh], source: "echo ok\\nexit 0"}\n'
        "---\n"
        "spec:\n"
        "  steps:\n"
        '  - {image: python, script: "#!/usr/bin/env python3\\nimport json\\n"}\n'
        '  - {image: bash, script: "greet() { echo; }\\ngreet\\n'
        'cat > f <<EOF\\nnot-run\\nEOF\\n"}\n'
    )
    assert missing_commands((file,)) == [
        "no-such-argosay",
        "no-such-cowsay",
        "the entrypoint of alpine",
    ]


def _workflow(tmp_path: Path, command: str, args: str) -> Path:
    file = tmp_path / "w.yaml"
    file.write_text(
        "apiVersion: argoproj.io/v1alpha1\n"
        "kind: Workflow\n"
        "metadata: {generateName: w-}\n"
        "spec:\n"
        "  entrypoint: main\n"
        "  templates:\n"
        f"  - name: main\n    container: {{image: busybox, command: {command}, args: {args}}}\n"
    )
    return file


def judge(file: Path, expect_success: bool = True, timeout: float = 60) -> Outcome:
    example = Example("argo", "argo/w.yaml", (file,), expect_success=expect_success)
    return asyncio.run(run_example(example, Sandbox(None), timeout))


def test_each_category(tmp_path: Path) -> None:
    assert judge(_workflow(tmp_path, "[sh, -c]", "['exit 0']")) == Outcome(MATCHED)
    assert judge(_workflow(tmp_path, "[sh, -c]", "['exit 3']"), expect_success=False) == Outcome(
        MATCHED
    )
    assert judge(_workflow(tmp_path, "[sh, -c]", "['exit 3']")) == Outcome(
        WRONG, "Failed, expected Succeeded"
    )
    assert judge(_workflow(tmp_path, "[no-such-argosay]", "[echo]")) == Outcome(
        NEEDS_COMMAND, "no-such-argosay"
    )
    # an expected failure is not matched by a command this host lacks
    assert judge(_workflow(tmp_path, "[no-such-argosay]", "[echo]"), False) == Outcome(
        NEEDS_COMMAND, "no-such-argosay"
    )
    assert judge(_workflow(tmp_path, "[sh, -c]", "['sleep 30']"), timeout=0.5) == Outcome(
        WRONG, "harness timeout (0.5 s)"
    )
    refused = judge(_workflow(tmp_path, "[sh, -c]", "[x]").with_name("missing.yaml"))
    assert refused.category == REFUSED and not refused.loaded
    out = Example("tekton", "tekton/x.yaml", (tmp_path / "x.yaml",), out_of_scope="needs a Secret")
    assert asyncio.run(run_example(out, Sandbox(None))) == Outcome(OUT_OF_SCOPE, "needs a Secret")


def test_the_ledger_holds_only_in_scope_misses_sorted() -> None:
    text = ledger_text(
        {
            "b.yaml": Outcome(REFUSED, "`daemon` is not supported"),
            "a.yaml": Outcome(WRONG, "Failed, expected Succeeded"),
            "c.yaml": Outcome(MATCHED),
            "d.yaml": Outcome(OUT_OF_SCOPE, "no-test: flaky"),
        }
    )
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == [
        "a.yaml:",
        "  category: ran, wrong outcome",
        "  reason: Failed, expected Succeeded",
        "b.yaml:",
        "  category: refused at load",
        "  reason: '`daemon` is not supported'",
    ]


def test_the_table_counts_loaded_ran_and_matched_per_engine() -> None:
    def ex(ident: str, engine: Engine = "argo") -> Example:
        return Example(engine, ident, ())

    chosen = [ex("a"), ex("b"), ex("c"), ex("d"), ex("e"), ex("t", "tekton")]
    outcomes = {
        "a": Outcome(MATCHED),
        "b": Outcome(REFUSED, "`daemon` is not supported"),
        "c": Outcome(NEEDS_COMMAND, "argosay"),
        "d": Outcome(OUT_OF_SCOPE, "no-test: flaky"),
        "e": Outcome(MATCHED_IN_CONTAINERS),
        "t": Outcome(WRONG, "Failed, expected Succeeded"),
    }
    lines = table(chosen, outcomes).splitlines()
    # in scope, loaded, ran, matched, in containers, needs image command, out of scope
    assert lines[1].split() == ["argo", "4", "3", "3", "1", "1", "1", "1"]
    assert lines[2].split() == ["tekton", "1", "1", "1", "0", "0", "0", "0"]
    assert lines[5:] == [
        "    1  argo    refused at load: `daemon` is not supported",
        "    1  tekton  ran, wrong outcome: Failed, expected Succeeded",
        "    1  argo    needs an image command the host lacks: argosay",
        "    1  argo    matched in containers",
        "    1  argo    out of scope: no-test: flaky",
    ]


def test_a_file_of_several_workflows_gives_one_example_each(tmp_path: Path) -> None:
    one = _workflow(tmp_path, "[sh, -c]", "['exit 0']").read_text()
    file = tmp_path / "two.yaml"
    file.write_text(
        one.replace("generateName: w-", "name: first")
        + "---\n"
        + one.replace("generateName: w-", "name: second")
    )
    example = Example("argo", "argo/two.yaml#second", (file,), document="second")
    assert load(example).pipeline.name == "second"


TWO_RUNS = """\
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: say}
spec:
  params: [{name: m}]
  steps: [{name: s, image: alpine, script: "echo $(params.m)"}]
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: first}
spec:
  pipelineSpec:
    tasks: [{name: a, taskRef: {name: say}, params: [{name: m, value: one}]}]
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: second-}
spec:
  pipelineSpec:
    tasks: [{name: b, taskRef: {name: say}, params: [{name: m, value: two}]}]
"""


def test_a_file_of_several_pipelineruns_gives_one_example_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tekton's test creates every PipelineRun of a file (with its other objects)."""
    folder = tmp_path / "tekton" / "pipelineruns"
    folder.mkdir(parents=True)
    (folder / "two.yaml").write_text(TWO_RUNS)
    monkeypatch.setattr(catalog, "DATA", tmp_path)
    monkeypatch.setattr(catalog, "TEKTON", folder)
    found = catalog.tekton_examples()
    ids = [e.id for e in found]
    assert ids == ["tekton/pipelineruns/two.yaml#first", "tekton/pipelineruns/two.yaml#second-"]
    assert [[t.name for t in load(e).pipeline.tasks] for e in found] == [["a"], ["b"]]


def test_an_example_its_images_explain_runs_again_in_them(
    tmp_path: Path, standin_store: Store
) -> None:
    """argosay's entrypoint: the host lacks it, the stand-in image has it; an image without a
    stand-in keeps its host category; a host match is not run again."""

    def judged(image: str, command: str) -> Outcome:
        file = tmp_path / "w.yaml"
        file.write_text(
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: w-}\n"
            f"spec:\n  entrypoint: main\n  templates:\n"
            f"  - name: main\n    container: {{image: '{image}', {command}args: [echo, hi]}}\n"
        )
        example = Example("argo", "argo/w.yaml", (file,))
        return asyncio.run(run_example(example, Sandbox(None), 60, container_run(standin_store)))

    assert judged("argoproj/argosay:v2", "") == Outcome(MATCHED_IN_CONTAINERS)
    assert judged("nginx:1.13", "").category == NEEDS_COMMAND
    assert judged("busybox", "command: [busybox], ") == Outcome(MATCHED)  # the host has it
    wrong = judged("busybox", "command: [sh, -c, 'exit 3'], ")
    assert wrong == Outcome(WRONG_IN_CONTAINERS, "Failed, expected Succeeded")
    # what the real alpine does and its stand-in cannot counts apart, and says what it is
    lacking = judged("alpine:3.23", "command: [sh, -c, 'nc -lk -p 9 -e /bin/true'], ")
    assert lacking == Outcome(NEEDS_COMMAND, "nc -k of alpine's busybox (stand-in)")


def test_a_standin_names_only_what_it_lacks() -> None:
    assert standin_gaps("alpine:3.23", "nc -lk -p 9999 -e /bin/true") == [
        "nc -k of alpine's busybox"
    ]
    assert standin_gaps("alpine:3.23", "set -e; nc -l -k -p 1") == ["nc -k of alpine's busybox"]
    assert standin_gaps("alpine:3.23", "nc -ll -p 9999 -e /bin/true") == []
    assert standin_gaps("alpine:3.23", "sync -k; rsync -k") == []
    assert standin_gaps("nginx:1.13", "nc -lk -p 1") == []  # no stand-in, nothing it lacks
