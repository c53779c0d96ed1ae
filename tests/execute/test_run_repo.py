"""`foredeck run` inside a git repository: the source workspace is a copy of the working tree."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.child import child_env
from tests.execute.helpers import task_log

PIPELINE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: repo-ci
spec:
  workspaces:
    - name: cache
    - name: source
  tasks:
    - name: test
      workspaces:
        - {name: src, workspace: source}
        - {name: cache, workspace: cache}
      taskSpec:
        workspaces:
          - name: src
          - name: cache
        steps:
          - name: main
            image: busybox
            script: |
              echo "cwd=$(pwd)"
              echo "src=$(workspaces.src.path)"
              sh ./run-tests.sh
              ls ignored.log 2>/dev/null || echo "no ignored file"
              echo step-output > written.txt
              echo appended >> version.txt
              rm -f helper.txt
              git status --short | sed 's/^/git: /'
              echo ok > "$(workspaces.cache.path)/stamp"
              echo '<testsuite/>' > "$ARTIFACTS/junit.xml"
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def foredeck(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foredeck.cli", "run", *map(str, args)],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a test script, an uncommitted edit, an untracked and an ignored file."""
    repo = tmp_path / "repo"
    (repo / "ci").mkdir(parents=True)
    (repo / "ci" / "pipeline.yaml").write_text(PIPELINE)
    (repo / "run-tests.sh").write_text('echo "tests see version $(cat version.txt)"\n')
    (repo / "version.txt").write_text("1.0\n")
    (repo / "helper.txt").write_text("helper\n")
    (repo / ".gitignore").write_text("*.log\n.foredeck/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    (repo / "version.txt").write_text("2.0-uncommitted\n")
    (repo / "new-test.txt").write_text("untracked\n")
    (repo / "ignored.log").write_text("ignored\n")
    return repo


def snapshot(repo: Path) -> dict[str, str]:
    return {
        str(p.relative_to(repo)): p.read_text()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.parts and ".foredeck" not in p.parts
    }


def test_steps_see_the_working_tree_and_leave_it_untouched(repo: Path, tmp_path: Path) -> None:
    before, status = snapshot(repo), git(repo, "status", "--short")
    out = tmp_path / "out"
    proc = foredeck("ci/pipeline.yaml", "--out", out, "--workspace", f"cache={tmp_path}", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = task_log(out, "test")
    source = out.resolve() / ".work" / "workspaces" / "source"
    assert f"cwd={source}" in log and f"src={source}" in log  # steps start in the checkout
    assert "tests see version 2.0-uncommitted" in log  # the uncommitted edit is tested
    assert "no ignored file" in log
    assert "git:  M version.txt" in log and "git: ?? new-test.txt" in log
    assert "git:  D helper.txt" in log and "git: ?? written.txt" in log
    assert (source / "new-test.txt").read_text() == "untracked\n"
    assert (source / "version.txt").read_text() == "2.0-uncommitted\nappended\n"
    assert (out / "artifacts" / "test" / "junit.xml").is_file()  # $ARTIFACTS as on CI
    assert (tmp_path / "stamp").read_text() == "ok\n"  # --workspace binds the directory itself
    assert snapshot(repo) == before and git(repo, "status", "--short") == status
    assert "copied 6 files" in proc.stderr  # tracked + untracked, not ignored


def test_a_subdirectory_runs_the_whole_repository(repo: Path) -> None:
    proc = foredeck("pipeline.yaml", cwd=repo / "ci")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = (repo / "ci" / ".foredeck" / "runs").iterdir()
    assert "tests see version 2.0-uncommitted" in task_log(run, "test")
    copied = run / ".work" / "workspaces" / "source"
    assert (copied / "ci" / "pipeline.yaml").is_file()
    assert not (copied / "ci" / ".foredeck").exists()  # earlier runs are not copied


def test_binding_the_source_runs_in_the_repository_itself(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = foredeck("ci/pipeline.yaml", "--out", out, "--workspace", "source=.", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"cwd={repo.resolve()}" in task_log(out, "test")
    assert (repo / "written.txt").read_text() == "step-output\n"
    assert "copied" not in proc.stderr


@pytest.mark.parametrize(
    ("binding", "expected"),
    [
        ("nope=.", "has no workspace 'nope' (it has: cache, source)"),
        ("cache", "expected NAME=PATH"),
        ("cache=missing-dir", "is not a directory"),
    ],
)
def test_a_bad_workspace_binding_is_one_line(repo: Path, binding: str, expected: str) -> None:
    proc = foredeck("ci/pipeline.yaml", "--workspace", binding, cwd=repo)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr, proc.stderr
    assert not (repo / ".foredeck").exists()


def test_a_pipeline_without_workspaces_starts_in_the_checkout(repo: Path, tmp_path: Path) -> None:
    (repo / "plain.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: tekton.dev/v1
            kind: Task
            metadata: {name: plain}
            spec:
              steps:
                - {name: main, image: busybox, script: "cat version.txt"}
            """
        )
    )
    out = tmp_path / "out"
    proc = foredeck("plain.yaml", "--out", out, cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2.0-uncommitted" in task_log(out, "plain")


def test_outside_a_repository_nothing_is_copied(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("sh ./run-tests.sh", "true"))
    out = tmp_path / "out"
    proc = foredeck("p.yaml", "--out", out, "--workspace", f"cache={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workspaces = out.resolve() / ".work" / "workspaces"
    assert f"cwd={workspaces}\n" in task_log(out, "test")  # the workspaces root, as before
    assert json.loads((out / "pipeline-run.json").read_text())["status"] == "Succeeded"
