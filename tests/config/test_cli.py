"""`foredeck config check` end to end, in a subprocess as a user or CI runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.config.helpers import REALISTIC, write

BROKEN = """
presubmits:
  org/repo:
  - name: one
    always_run: true
    run_if_changed: ^src/
    spec: {containers: [{image: a}]}
  - name: two
    trigger: /go
    spec: {containers: [{image: a}]}
periodics:
- name: three
  spec: {containers: [{image: a}]}
"""


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foredeck.cli", "config", "check", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_valid_config_prints_counts() -> None:
    proc = check(REALISTIC)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "ok: 8 presubmits, 2 postsubmits, 3 periodics, 2 repos (4 files, 0 warnings, 0 errors)"
    )
    assert proc.stderr == ""


def test_every_error_is_printed_with_file_line_and_job(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.yaml", BROKEN)
    proc = check(path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[:3] == [
        f"{path}:5: job one: always_run and run_if_changed are mutually exclusive",
        f"{path}:8: job two: trigger and rerun_command must both be set, or neither",
        f"{path}:11: job three: at least one of cron, interval, or minimum_interval must be set",
    ]
    assert lines[3].startswith("config check failed: 3 errors;")
    assert proc.stdout == ""


def test_bad_yaml_exits_1_with_file_and_line(tmp_path: Path) -> None:
    text = "periodics:\n- name: x\n  interval: 1h\n  spec: {containers: [\n"
    path = write(tmp_path, "jobs.yaml", text)
    proc = check(path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0].startswith(f"{path}:5: invalid YAML:")


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "jobs.yaml",
        "periodics:\n- {name: x, interval: 1h, typo_field: 1, spec: {containers: [{image: a}]}}\n",
    )
    proc = check(path, "--warnings", "all")
    assert proc.returncode == 0
    assert proc.stdout.startswith("ok: 0 presubmits, 0 postsubmits, 1 periodics, 0 repos")
    expected = f"warning: {path}:2: job x: unknown field 'typo_field'"
    expected += " (kept; foredeck does not use it)"
    assert proc.stderr == expected + "\n"
    strict = check(path, "--strict")
    assert strict.returncode == 1
    assert "config check failed: warnings (--strict)" in strict.stderr


def test_in_repo_config_with_central_config(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    write(
        repo,
        ".foredeck.yaml",
        """
        presubmits:
        - name: pull-kubernetes-unit
          always_run: true
          spec: {containers: [{image: a, command: [make]}]}
        - name: in-repo-only
          run_if_changed: ^pkg/
          spec: {containers: [{image: a, command: [make]}]}
        """,
    )
    proc = check(
        REALISTIC, "--in-repo", repo, "--repo", "kubernetes/kubernetes", "--warnings", "all"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: 9 presubmits, 2 postsubmits, 3 periodics, 2 repos (5 files")
    assert "warning: .foredeck.yaml:2: job pull-kubernetes-unit: in-repo presubmit ignored" in (
        proc.stderr
    )
    alone = check("--in-repo", repo / ".foredeck.yaml")
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.startswith("ok: 2 presubmits, 0 postsubmits, 0 periodics, 1 repos")


def test_in_repo_periodics_fail(tmp_path: Path) -> None:
    write(tmp_path, ".foredeck.yaml", "periodics:\n- {name: p, interval: 1h}\n")
    proc = check("--in-repo", tmp_path)
    assert proc.returncode == 1
    assert ".foredeck.yaml:1: periodics are not allowed in in-repo config" in proc.stderr


def test_nothing_to_check_is_a_usage_error() -> None:
    proc = check()
    assert proc.returncode == 2
    assert "give config paths" in proc.stderr


def test_warnings_are_summarised_by_kind_by_default(tmp_path: Path) -> None:
    """A preset used by many jobs warns once, and the default output is one line per kind."""
    jobs = "\n".join(
        f"- {{name: p{i}, interval: 1h, typo: 1, labels: {{preset-t: 'true'}},"
        " spec: {containers: [{image: a}]}}"
        for i in range(50)
    )
    preset = "presets:\n- labels: {preset-t: 'true'}\n  env: [{name: T, valueFrom: {x: 1}}]\n"
    path = write(tmp_path, "jobs.yaml", preset + "periodics:\n" + jobs + "\n")
    proc = check(path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "51 warnings by kind (--warnings all lists each):",
        f"    50 unknown-field, e.g. {path}:5: job p0: unknown field 'typo'"
        " (kept; foredeck does not use it)",
        f"     1 value-from, e.g. {path}:3: preset env T uses valueFrom,"
        " which runs only on Kubernetes agents",
    ]
    assert "51 warnings, 0 errors" in proc.stdout
    quiet = check(path, "--warnings", "none")
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert len(check(path, "--warnings", "all").stderr.splitlines()) == 51
