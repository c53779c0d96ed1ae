"""`foredeck run` starts fast: what it imports, and its Typer-free reading of the command line.

Not timed (a busy machine would make that flaky): the guard is which modules a real run
imports, and that the fast reader (`execute.run_args`) reads every command line as Typer does or
leaves it to Typer.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from dataclasses import fields
from pathlib import Path

import pytest
import typer

from foredeck.cli_app import COMMANDS
from foredeck.execute.cli import RunArgs
from foredeck.execute.run_args import FLAG_OPTIONS, REPEATABLE, VALUE_OPTIONS, parse_run_args
from tests.child import child_env

NOT_FOR_RUN = [
    # What the server, the job config, the API client and Typer's conversions use.
    "typer",
    "click",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "jinja2",
    "kubernetes",
    "boto3",
    "fsspec",
    "foredeck.cli_app",
    "foredeck.config",
    "foredeck.db",
    "foredeck.serve",
    "foredeck.api",
    "foredeck.jobs_cli",
    "foredeck.util_cli",
    "foredeck.bump_cli",
    "foredeck.cd",
    "ruamel",
    "foredeck.settings",
    "foredeck.types.refs",
    "foredeck.pipeline.argo",  # Argo's front end: a Tekton pipeline does not need it
]

PIPELINE = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: one
spec:
  tasks:
    - name: t
      taskSpec:
        steps:
          - name: s
            image: alpine
            script: "true"
"""

CHILD = """\
import json, sys
from foredeck import cli
sys.argv = ["foredeck", *json.loads(sys.argv[1])]
try:
    cli.main()
except SystemExit as exc:
    code = exc.code
else:
    code = None
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.__stderr__)
"""


def run_in_child(tmp_path: Path, *argv: str) -> tuple[int | None, set[str]]:
    """`foredeck ARGV...` in a child: its exit code and the modules it imported."""
    (tmp_path / "one.yaml").write_text(PIPELINE)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(argv)],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(done.stderr.splitlines()[-1])
    return report["code"], set(report["modules"])


def test_a_run_imports_neither_typer_nor_the_server_stack(tmp_path: Path) -> None:
    code, modules = run_in_child(tmp_path, "run", "one.yaml", "--out", "out")
    assert code == 0, "the run itself must have happened"
    assert (tmp_path / "out" / "finished.json").is_file()
    assert "foredeck.execute.local" in modules  # the executor ran in this process
    loaded = {name for name in NOT_FOR_RUN if name in modules}
    assert not loaded, f"`foredeck run` imported {sorted(loaded)}"


def test_a_command_imports_its_own_module_only(tmp_path: Path) -> None:
    code, modules = run_in_child(tmp_path, "util", "--help")
    assert code == 0
    assert "foredeck.util_cli" in modules
    others = ["foredeck.serve", "foredeck.jobs_cli", "foredeck.config", "foredeck.execute.cli"]
    assert not [name for name in others if name in modules]
    assert not [name for name in ("sqlalchemy", "fastapi", "httpx") if name in modules]


def test_bump_help_does_not_import_the_engine(tmp_path: Path) -> None:
    code, modules = run_in_child(tmp_path, "bump", "--help")
    assert code == 0
    assert "foredeck.bump_cli" in modules
    assert "foredeck.cd" not in modules


def test_a_bump_runs_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pod.yaml").write_text("spec:\n  image: nginx:1  # web\n")
    code, modules = run_in_child(tmp_path, "bump", "--image", "nginx:2", "--dir", "m")
    assert code == 0
    assert "foredeck.cd.scan" in modules
    assert (tmp_path / "m" / "pod.yaml").read_text() == "spec:\n  image: nginx:2  # web\n"


def test_access_render_needs_no_kubernetes_client(tmp_path: Path) -> None:
    """Rendering is for review and GitOps: it must work without the `kube` extra."""
    roles = tmp_path / "roles.yaml"
    roles.write_text("clusters:\n- name: ci\n  namespaces: [{name: ci}]\n")
    code, modules = run_in_child(tmp_path, "access", "render", str(roles), "--out", "out")
    assert code == 0
    assert (tmp_path / "out" / "ci.yaml").is_file()
    assert "foredeck.access.kube_render" in modules
    assert "kubernetes" not in modules
    assert "boto3" not in modules


def test_help_lists_every_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "foredeck.cli", "--help"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    listed = re.findall(r"^\S (\w+) ", done.stdout.split("Commands")[1], re.MULTILINE)
    assert listed == list(COMMANDS)
    assert listed == ["run", "serve", "config", "jobs", "token", "access", "lease", "bump", "util"]


def run_command() -> typer.core.TyperCommand:
    command = COMMANDS["run"]()
    assert isinstance(command, typer.core.TyperCommand)
    return command


def test_the_fast_reader_knows_every_option_of_the_typer_command() -> None:
    command = run_command()
    options: dict[str | None, typer.core.TyperOption] = {}
    for p in command.params:
        if p.param_type_name == "option":
            assert isinstance(p, typer.core.TyperOption), p
            options[p.name] = p
    flags = {opt: p.name for p in options.values() for opt in [*p.opts, *p.secondary_opts]}
    assert flags == {**VALUE_OPTIONS, **FLAG_OPTIONS}
    assert {name for name, p in options.items() if p.multiple} == REPEATABLE
    assert {name for name, p in options.items() if p.is_flag} == set(FLAG_OPTIONS.values())
    arguments = [p.name for p in command.params if p.param_type_name == "argument"]
    assert arguments == ["files"]
    assert {f.name for f in fields(RunArgs)} == {p.name for p in command.params}


SAME = [
    ["p.yaml"],
    ["a.yaml", "b.yaml", "--out", "o", "--parallel", "3"],
    ["--param", "a=1", "-p", "b=2", "-pc=3", "--param=d=4", "-p=e", "x.yaml"],
    ["x.yaml", "--out=o", "--out", "o2", "--parallel=07", "--parallel", "2"],
    ["x.yaml", "-p", "--out", "--param", "-"],
    ["--", "-x.yaml", "--out"],
    ["-", "--max-output", "2G", "--workspace", "src=.", "--workspace=cache=/tmp/c"],
    [
        *("--emit", "argo", "--decorate", "--repo", "o/r", "--ref", "main"),
        *("--clone-uri", "file:///x", "--upload=s3://b/p", "--utility-image", "i:1", "x.yaml"),
    ],
]


@pytest.mark.parametrize("argv", SAME, ids=" ".join)
def test_the_fast_reader_reads_a_command_line_as_typer_does(argv: list[str]) -> None:
    typer_read = run_command().make_context("run", list(argv)).params
    assert parse_run_args(argv) == RunArgs.of(**typer_read)


LEFT_TO_TYPER = [
    [],
    ["--out", "o"],
    ["--help"],
    ["x.yaml", "--help"],
    ["x.yaml", "-h"],
    ["x.yaml", "--parallel", "0"],
    ["x.yaml", "--parallel", "two"],
    ["x.yaml", "--out"],
    ["x.yaml", "--nope"],
    ["x.yaml", "--par", "2"],
    ["x.yaml", "-x"],
    ["x.yaml", "--decorate=yes"],
    ["x.yaml", "-1"],
]


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=" ".join)
def test_the_fast_reader_leaves_help_and_errors_to_typer(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_run_args(argv) is None
    with pytest.raises((typer.TyperException, typer.Exit)):  # an error, or help then exit
        run_command().make_context("run", list(argv))


def test_other_commands_and_help_still_go_through_typer(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """\
        import sys
        from foredeck import cli
        sys.argv = ["foredeck", "run", "--help"]
        try:
            cli.main()
        except SystemExit as exc:
            print("exit", exc.code, "typer" in sys.modules, file=sys.__stderr__)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--max-output" in done.stdout
    assert done.stderr.splitlines()[-1] == "exit 0 True"
