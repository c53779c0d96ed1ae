"""`foredeck run` end to end, as a subprocess: exit codes, output, signals, leftovers."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.child import child_env
from tests.execute.helpers import processes_in, read_pids, survivors, task_log

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "e2e-pipeline.yaml"


def foredeck(*args: str | Path, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foredeck.cli", "run", *map(str, args)],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pipeline_yaml(path: Path, tasks: str, final: str = "", params: str = "") -> Path:
    """A Tekton v1 Pipeline with the given (already indented) task entries."""
    text = textwrap.dedent(
        """\
        apiVersion: tekton.dev/v1
        kind: Pipeline
        metadata:
          name: cli-test
        spec:
          params:
        {params}
          tasks:
        {tasks}
        """
    ).format(params=params or "    []", tasks=tasks)
    if final:
        text += "  finally:\n" + final
    path.write_text(text)
    return path


def script_task(name: str, script: str, extra: str = "", spec_params: str = "") -> str:
    body = textwrap.indent(script, " " * 14)
    declared = "".join(f"          - name: {p}\n" for p in spec_params.split())
    return (
        f"    - name: {name}\n{extra}"
        f"      taskSpec:\n"
        + (f"        params:\n{declared}" if declared else "")
        + f"        steps:\n"
        f"          - name: main\n"
        f"            image: busybox\n"
        f"            script: |\n{body}\n"
    )


def test_success_exit_0_with_summary_and_default_output_dir(tmp_path: Path) -> None:
    yaml = pipeline_yaml(
        tmp_path / "p.yaml",
        script_task("hello", "echo hello $(params.who)"),
        params='    - name: who\n      default: "nobody"',
    )
    proc = foredeck(yaml, "-p", "who=world", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hello" in proc.stdout and "Succeeded" in proc.stdout
    assert "hello: running" in proc.stderr  # plain progress lines when not on a terminal
    runs = list((tmp_path / ".foredeck" / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("cli-test-")
    assert json.loads((runs[0] / "finished.json").read_text())["result"] == "SUCCESS"
    assert "hello world" in (runs[0] / "build-log.txt").read_text()


def test_failed_task_exit_1(tmp_path: Path) -> None:
    yaml = pipeline_yaml(tmp_path / "p.yaml", script_task("bad", "exit 3"))
    proc = foredeck(yaml, "--out", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 1
    assert "exited with code 3" in proc.stdout
    assert json.loads((tmp_path / "out" / "finished.json").read_text())["result"] == "FAILURE"


def test_timed_out_task_exit_1(tmp_path: Path) -> None:
    yaml = pipeline_yaml(
        tmp_path / "p.yaml", script_task("slow", "sleep 30", "      timeout: 300ms\n")
    )
    proc = foredeck(yaml, "--out", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 1
    assert "TimedOut" in proc.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["missing.yaml"], "missing.yaml"),
        (["p.yaml", "-p", "no-equals-sign"], "NAME=VALUE"),
        (["p.yaml", "-p", "undeclared=1"], "undeclared"),
        (["bad.yaml"], "bad.yaml:"),
    ],
)
def test_invalid_input_exit_2_with_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    pipeline_yaml(tmp_path / "p.yaml", script_task("t", "true"))
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: x\nspec:\n"
        "  tasks:\n    - name: t\n      taskSpec:\n        steps: []\n      bogus: 1\n"
    )
    proc = foredeck(*args, "--out", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_invalid_yaml_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: x\nspec:\n"
        "  tasks:\n    - name: t\n      taskSpec:\n        steps:\n"
        "          - name: s\n            script: echo\n      bogus: 1\n"
    )
    proc = foredeck("bad.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("bad.yaml:"), proc.stderr
    assert int(proc.stderr.split(":")[1]) > 1


def test_non_empty_output_directory_exit_2(tmp_path: Path) -> None:
    yaml = pipeline_yaml(tmp_path / "p.yaml", script_task("t", "true"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    proc = foredeck(yaml, "--out", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "not empty" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_run_cancels_runs_finally_and_leaves_nothing(
    tmp_path: Path, sig: signal.Signals
) -> None:
    pids, started, marker = tmp_path / "pids", tmp_path / "started", tmp_path / "finally"
    long_script = f"""\
echo $$ >> {pids}
sleep 30 &
echo $! >> {pids}
sh -c 'trap "" TERM; echo $$ >> {pids}; sleep 30 & echo $! >> {pids}; wait' &
while [ $(wc -l < {pids}) -lt 4 ]; do sleep 0.01; done
touch {started}
wait"""
    yaml = pipeline_yaml(
        tmp_path / "p.yaml",
        script_task("long", long_script)
        + script_task("after", "echo never", "      runAfter: [long]\n"),
        final=script_task(
            "cleanup",
            f"echo $$ >> {pids}; echo $(params.outcome) > {marker}",
            "      params:\n        - name: outcome\n          value: $(tasks.status)\n",
            spec_params="outcome",
        ),
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "foredeck.cli", "run", str(yaml), "--out", str(out)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not started.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.02)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert marker.read_text().strip() == "Failed"  # finally ran, and saw a cancelled task
    finished = json.loads((out / "finished.json").read_text())
    assert (finished["passed"], finished["result"]) == (False, "ABORTED")
    run = json.loads((out / "pipeline-run.json").read_text())
    assert run["status"] == "Cancelled"
    assert run["tasks"]["long"]["status"] == "Cancelled"
    assert run["tasks"]["after"]["status"] in ("Cancelled", "Skipped")
    assert run["tasks"]["cleanup"]["status"] == "Succeeded"
    recorded = read_pids(pids)
    assert len(recorded) == 5
    assert survivors(recorded) == []
    assert processes_in(tmp_path) == []
    assert f"{signal.Signals(sig).name}: cancelling" in stderr
    assert "Cancelled" in stdout


def test_ctrl_c_at_a_terminal_cancels_the_run_and_runs_finally(tmp_path: Path) -> None:
    """A user's ^C: the terminal sends SIGINT to foredeck's process group (the steps have
    sessions of their own), the main thread catches it and the loop's thread cancels."""
    started, marker, out = tmp_path / "started", tmp_path / "finally", tmp_path / "out"
    yaml = pipeline_yaml(
        tmp_path / "p.yaml",
        script_task("long", f"touch {started}\nsleep 30"),
        final=script_task(
            "cleanup",
            f"echo $(params.outcome) > {marker}",
            "      params:\n        - name: outcome\n          value: $(tasks.status)\n",
            spec_params="outcome",
        ),
    )
    argv = [sys.executable, "-m", "foredeck.cli", "run", str(yaml), "--out", str(out)]
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - becomes foredeck, on the terminal
        os.chdir(tmp_path)
        os.execve(sys.executable, argv, child_env())
    shown = bytearray()
    reader = threading.Thread(target=_drain, args=(master, shown), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 20
        while not started.exists():
            assert time.monotonic() < deadline, f"the step never started: {bytes(shown)!r}"
            time.sleep(0.02)
        os.write(master, b"\x03")  # ^C
        code = _exit_code(pid, deadline=time.monotonic() + 20)
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)  # still there only if the test failed
            os.waitpid(pid, 0)
    reader.join(timeout=5)
    assert code == 130, bytes(shown)
    assert b"SIGINT: cancelling" in shown
    assert marker.read_text().strip() == "Failed"
    assert json.loads((out / "pipeline-run.json").read_text())["status"] == "Cancelled"


def _drain(master: int, into: bytearray) -> None:
    """Read what the terminal shows until it closes (its buffer must not fill)."""
    with contextlib.suppress(OSError):
        while chunk := os.read(master, 4096):
            into += chunk


def _exit_code(pid: int, deadline: float) -> int:
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    raise AssertionError("foredeck did not stop after ^C")


@pytest.mark.parametrize("integration", ["true", "false"])
def test_example_e2e_pipeline(tmp_path: Path, integration: str) -> None:
    out = tmp_path / "demo"
    proc = foredeck(EXAMPLE, "--out", out, "-p", f"run-integration={integration}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = json.loads((out / "pipeline-run.json").read_text())
    assert run["results"]["image"] == "registry.local/app:1.4.2"
    assert run["tasks"]["build"]["results"] == {"image": "registry.local/app:1.4.2"}
    assert (out / "artifacts" / "unit-tests" / "junit_unit.xml").read_text().count("<testcase") == 3
    junit_integration = out / "artifacts" / "integration-tests" / "junit_integration.xml"
    teardown = task_log(out, "teardown")
    deploy = task_log(out, "deploy")
    assert "deploying registry.local/app:1.4.2" in deploy
    if integration == "true":
        assert run["tasks"]["integration-tests"]["status"] == "Succeeded"
        assert junit_integration.exists()
        assert "pipeline tasks status: Succeeded" in teardown
    else:
        assert run["tasks"]["integration-tests"]["status"] == "Skipped"
        assert not junit_integration.exists()
        assert "pipeline tasks status: Completed" in teardown


def test_max_output_caps_what_the_build_log_keeps(tmp_path: Path) -> None:
    script = "seq 1 100000\necho finished > done.txt"
    yaml = pipeline_yaml(tmp_path / "p.yaml", script_task("loud", script))
    out = tmp_path / "out"
    proc = foredeck(yaml, "--out", out, "--max-output", "10KiB", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr  # the step went on to its end
    log = (out / "build-log.txt").read_text()
    kept = [line for line in log.splitlines() if "[loud/main]" in line]
    assert sum(len(line) + 1 for line in kept) <= 10 * 1024
    assert "output cut: step output after 10240 bytes is dropped (--max-output)" in log
    assert re.search(r"output cut: \d+ bytes of step 'main' dropped after 10240 bytes", log)
    assert "100000" not in log

    invalid = foredeck(yaml, "--max-output", "lots", cwd=tmp_path)
    assert invalid.returncode == 2 and "--max-output: 'lots' is not a size" in invalid.stderr
