"""Optional extras: a plain install runs everything local, and a feature whose extra is missing
fails with one line naming it.

"Not installed" is simulated: child processes get a `sitecustomize` that makes importing the
extras' libraries raise `ModuleNotFoundError`, as on a plain `pip install foredeck`; in-process
tests put None in `sys.modules`, which Python treats the same way.
"""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from foredeck.db.engine import make_engine
from foredeck.execute.executor import ExecutorError
from foredeck.execute.executors import Executors
from foredeck.execute.kube.executor import KubeExecutor
from foredeck.extras import MissingExtra, require
from foredeck.settings import KubeSettings, Settings
from foredeck.storage.store import open_store
from tests.child import ROOT, python_path

EXTRAS_LIBRARIES = (
    "kubernetes",
    "boto3",
    "botocore",
    "aiobotocore",
    "s3fs",
    "gcsfs",
    "google",
    "psycopg",
    "psycopg_binary",
)
"""What no base code path may import (top-level names)."""

BLOCKER = """\
import os, sys

BLOCKED = frozenset({blocked!r})
LOG = os.environ.get("EXTRAS_BLOCKER_LOG")
if LOG:
    with open(LOG, "a") as log:
        log.write(f"loaded {{os.getpid()}} {{' '.join(sys.argv)}}\\n")


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            if LOG:
                with open(LOG, "a") as log:
                    log.write(f"blocked {{name}} in {{os.getpid()}}\\n")
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
"""


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def message(extra: str, what: str) -> str:
    return f"{what} needs the {extra!r} extra: pip install 'foredeck[{extra}]'"


# --- a plain install, in child processes -------------------------------------------------------


@pytest.fixture
def plain_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a child without the extras' libraries (see the module docstring)."""
    site = tmp_path / "blocker"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=sorted(EXTRAS_LIBRARIES)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREDECK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), python_path()])
    env["EXTRAS_BLOCKER_LOG"] = str(tmp_path / "blocker.log")
    yield env


def child(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_blocker_makes_each_library_unimportable(
    tmp_path: Path, plain_env: dict[str, str]
) -> None:
    names = [*EXTRAS_LIBRARIES, "google.auth", "google.cloud.storage"]
    probe = textwrap.dedent(
        f"""\
        import importlib
        for name in {names!r}:
            try:
                importlib.import_module(name)
            except ImportError:
                continue
            print(name)
        """
    )
    done = child(["-c", probe], plain_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "", f"importable despite the blocker: {done.stdout}"


def test_foredeck_run_and_config_check_work_without_any_extra(
    tmp_path: Path, plain_env: dict[str, str]
) -> None:
    repo = tmp_path / "repo"
    (repo / "ci").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "e2e-pipeline.yaml", repo / "ci" / "e2e.yaml")
    (repo / ".foredeck.yaml").write_text(
        textwrap.dedent(
            """\
            presubmits:
            - name: e2e
              always_run: true
              pipeline: ci/e2e.yaml
            """
        )
    )
    subprocess.run(["git", "init", "-q", str(repo)], check=True)

    ran = child(["-m", "foredeck.cli", "run", "ci/e2e.yaml", "--out", "out"], plain_env, repo)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert '"SUCCESS"' in (repo / "out" / "finished.json").read_text()

    argv = ["-m", "foredeck.cli", "config", "check", "--in-repo", str(repo)]
    checked = child(argv, plain_env, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 presubmits" in checked.stdout + checked.stderr
    assert "loaded" in (tmp_path / "blocker.log").read_text()


def test_the_demo_runs_without_any_extra(tmp_path: Path, plain_env: dict[str, str]) -> None:
    """`make demo`'s command on a plain install: the whole story, and the server (a child of
    the demo) ran without the extras too."""
    done = child(
        ["-m", "foredeck.demo", "--workdir", str(tmp_path / "demo")],
        plain_env,
        tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Demo done" in done.stdout, done.stdout
    assert "Merge pull request #1" in done.stdout
    log = (tmp_path / "blocker.log").read_text()
    assert any(" serve " in line for line in log.splitlines() if line.startswith("loaded")), log


def test_a_postgresql_database_without_the_extra_is_one_line(
    tmp_path: Path, plain_env: dict[str, str]
) -> None:
    settings = {"database_url": "postgresql://ci@127.0.0.1:1/foredeck"}
    (tmp_path / "foredeck.yaml").write_text(yaml.safe_dump(settings))
    argv = ["-m", "foredeck.cli", "serve", "--role", "worker", "--config", "foredeck.yaml"]
    done = child(argv, plain_env, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert one_line(done.stdout + done.stderr) == "foredeck: " + message(
        "postgres", "a postgresql:// database"
    )


def test_the_kube_executor_without_the_extra_is_one_line(
    tmp_path: Path, plain_env: dict[str, str]
) -> None:
    settings = {
        "database_url": f"sqlite:///{tmp_path / 'fd.db'}",
        "scm": {"provider": "local", "local_root": str(tmp_path / "repos")},
        "controller": {"workdir": str(tmp_path / "runs")},
        "kube": {"default_agent": "argo"},
    }
    (tmp_path / "foredeck.yaml").write_text(yaml.safe_dump(settings))
    for argv, prefix in [
        (["-m", "foredeck.cli", "serve", "--role", "controller"], "foredeck: "),
        (["-m", "foredeck.controller"], "foredeck controller: "),
    ]:
        done = child([*argv, "--config", "foredeck.yaml"], plain_env, tmp_path)
        out = done.stdout + done.stderr
        assert done.returncode == 2, out
        # Start-up logs (the migration) come first; the error itself is one line, no traceback.
        assert out.splitlines()[-1] == prefix + message("kube", "the argo executor"), out
        assert "Traceback" not in out


@pytest.mark.parametrize(
    ("url", "extra"), [("s3://bucket/logs", "s3"), ("gs://bucket/logs", "gcs")]
)
def test_uploading_to_a_bucket_without_the_extra_is_one_line(
    tmp_path: Path, plain_env: dict[str, str], url: str, extra: str
) -> None:
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "a.txt").write_text("a")
    argv = ["-m", "foredeck.cli", "util", "upload", "--dir", "artifacts", "--to", url]
    done = child(argv, plain_env, tmp_path)
    assert done.returncode != 0
    scheme = url.partition(":")[0]
    line = one_line(done.stdout + done.stderr)
    assert line.endswith(": " + message(extra, f"the {scheme}:// artifact store")), line


# --- the same choices in-process ---------------------------------------------------------------


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The extras' libraries unimportable in this process (None in `sys.modules`)."""
    for name in list(sys.modules):
        if name.partition(".")[0] in EXTRAS_LIBRARIES:
            monkeypatch.delitem(sys.modules, name)
    for name in [*EXTRAS_LIBRARIES, "google.auth", "google.cloud", "gcsfs.core", "botocore.config"]:
        monkeypatch.setitem(sys.modules, name, None)
    yield


@pytest.mark.usefixtures("without")
@pytest.mark.parametrize(
    ("url", "line"),
    [
        ("s3://bucket/prefix", message("s3", "the s3:// artifact store")),
        ("s3a://bucket/prefix", message("s3", "the s3:// artifact store")),
        ("gs://bucket/prefix", message("gcs", "the gs:// artifact store")),
    ],
)
def test_open_store_names_the_missing_extra(url: str, line: str) -> None:
    with pytest.raises(MissingExtra) as caught:
        open_store(url)
    assert str(caught.value) == line


@pytest.mark.usefixtures("without")
def test_a_local_store_and_sqlite_need_no_extra(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "artifacts"))
    store.write_text("a/b.txt", "hi")
    assert store.read_bytes("a/b.txt") == b"hi"
    engine = make_engine(f"sqlite:///{tmp_path / 'fd.db'}")
    with engine.connect():
        pass
    engine.dispose()


@pytest.mark.usefixtures("without")
@pytest.mark.parametrize("url", ["postgresql://ci@db/fd", "postgresql+psycopg://ci@db/fd"])
def test_a_postgresql_url_names_the_missing_extra(url: str) -> None:
    with pytest.raises(MissingExtra) as caught:
        make_engine(url)
    assert str(caught.value) == message("postgres", "a postgresql:// database")


@pytest.mark.usefixtures("without")
def test_kube_executors_are_needed_only_where_jobs_go(tmp_path: Path) -> None:
    local = Executors.from_settings(Settings())  # argo and tekton exist, but nothing runs there
    assert local.default == "local"
    with pytest.raises(MissingExtra) as caught:
        Executors.from_settings(Settings(kube=KubeSettings(default_agent="tekton")))
    assert str(caught.value) == message("kube", "the tekton executor")


@pytest.mark.usefixtures("without")
async def test_a_job_on_a_kube_agent_fails_with_the_line(tmp_path: Path) -> None:
    executor = Executors.from_settings(Settings()).for_agent("argo")
    assert isinstance(executor, KubeExecutor)
    with pytest.raises(ExecutorError) as caught:
        await executor.run(None, tmp_path, None, asyncio.Event())  # type: ignore[arg-type]
    assert str(caught.value) == message("kube", "the argo executor")


def test_eks_authentication_needs_its_own_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n.partition(".")[0] in ("boto3", "botocore")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "boto3", None)
    settings = Settings(kube=KubeSettings(default_agent="argo", auth="eks", cluster="ci"))
    with pytest.raises(MissingExtra) as caught:
        Executors.from_settings(settings)
    assert str(caught.value) == message("eks", "the argo executor's EKS authentication")


def test_a_broken_library_is_told_apart_from_a_missing_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "aiobotocore", None)
    monkeypatch.setitem(sys.modules, "foredeck_fake_s3fs", None)
    with pytest.raises(MissingExtra) as missing:
        require("s3", "foredeck_fake_s3fs", "x")
    assert str(missing.value) == message("s3", "x")
    assert isinstance(missing.value, ImportError)

    def broken() -> None:
        raise ModuleNotFoundError("No module named 'aiobotocore'", name="aiobotocore")

    monkeypatch.setattr("importlib.import_module", lambda name: broken())
    with pytest.raises(MissingExtra) as caught:
        require("s3", "s3fs", "x")
    assert str(caught.value) == message("s3", "x") + " (No module named 'aiobotocore')"


# --- the packaging -----------------------------------------------------------------------------


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project: dict[str, object] = tomllib.load(handle)["project"]
    return project


def _required_extras() -> set[str]:
    """The extras `require(...)` calls in the sources name."""
    names: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "require"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(str(node.args[0].value))  # a wrong one stays a wrong name
    return names


def test_every_extra_the_code_names_exists_and_all_holds_them() -> None:
    optional = _project()["optional-dependencies"]
    assert isinstance(optional, dict)
    required = _required_extras()
    assert {"kube", "s3", "gcs", "postgres", "eks"} <= required
    assert required <= set(optional)
    assert optional["all"] == [f"foredeck[{','.join(sorted(required, key=list(optional).index))}]"]
    assert "foredeck[all]" in optional["dev"]


def test_the_base_dependencies_leave_the_extras_libraries_out() -> None:
    dependencies = _project()["dependencies"]
    assert isinstance(dependencies, list)
    base = " ".join(dependencies).lower()
    for library in ("kubernetes", "boto", "s3fs", "gcsfs", "google-cloud", "google-auth", "psyco"):
        assert library not in base
