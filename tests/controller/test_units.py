"""The small pure pieces: clone URIs, Prow's env, time limits, owner ids, store URLs."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from foredeck.config import Periodic
from foredeck.controller import artifacts, clone_uri_for
from foredeck.controller.__main__ import main
from foredeck.controller.env import prow_env, pull_refs_string
from foredeck.controller.pipeline import format_seconds, limits
from foredeck.controller.queries import job_limit, owner_host_pid
from foredeck.db.models import Job
from foredeck.execute.host import step_env
from foredeck.execute.orphans import new_owner
from foredeck.settings import Settings
from foredeck.types import Pull, Refs


def test_clone_uri_for_local_and_github(tmp_path: Path) -> None:
    local = clone_uri_for(
        Settings.model_validate({"scm": {"provider": "local", "local_root": str(tmp_path)}})
    )
    assert local("org", "repo") == str(tmp_path / "org" / "repo")
    (tmp_path / "org" / "bare.git").mkdir(parents=True)
    assert local("org", "bare") == str(tmp_path / "org" / "bare.git")
    assert clone_uri_for(Settings())("org", "repo") == "https://github.com/org/repo.git"


def presubmit_row() -> Job:
    refs = Refs(
        org="acme",
        repo="widget",
        base_ref="main",
        base_sha="a" * 40,
        pulls=[Pull(number=7, sha="b" * 40, title="Fix")],
    )
    return Job(
        id=42,
        name="unit",
        type="presubmit",
        refs=refs.to_prow_json(),
        extra_refs=[],
        job_config={"decoration_config": {"timeout": "10m"}},
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def test_steps_get_an_allow_list_of_the_host_environment() -> None:
    host = {
        "PATH": "/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "TZ": "UTC",
        "HOME": "/root",
        "GITHUB_TOKEN": "ghp_secret",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "DATABASE_URL": "postgresql://u:p@db/ci",
        "HTTPS_PROXY": "http://proxy:3128",
        "FOREDECK_API__TOKEN": "api-secret",
    }
    env = step_env(prow_env(presubmit_row(), "1"), host)
    assert {k: env[k] for k in host if k in env} == {
        "PATH": "/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "TZ": "UTC",
    }
    assert "ghp_secret" not in env.values() and "aws-secret" not in env.values()
    passed = step_env(prow_env(presubmit_row(), "1"), host, passed=["HTTPS_PROXY"])
    assert passed["HTTPS_PROXY"] == "http://proxy:3128" and "GITHUB_TOKEN" not in passed


def test_prow_env_of_a_presubmit() -> None:
    env = step_env(
        prow_env(presubmit_row(), "1800"), {"PATH": "/bin", "FOREDECK_DATABASE_URL": "secret"}
    )
    assert "FOREDECK_DATABASE_URL" not in env and env["PATH"] == "/bin"
    expected = {
        "CI": "true",
        "JOB_NAME": "unit",
        "JOB_TYPE": "presubmit",
        "BUILD_ID": "1800",
        "PROW_JOB_ID": "42",
        "REPO_OWNER": "acme",
        "REPO_NAME": "widget",
        "PULL_BASE_REF": "main",
        "PULL_BASE_SHA": "a" * 40,
        "PULL_NUMBER": "7",
        "PULL_PULL_SHA": "b" * 40,
        "PULL_REFS": f"main:{'a' * 40},7:{'b' * 40}",
    }
    assert {k: env[k] for k in expected} == expected
    spec = json.loads(env["JOB_SPEC"])
    assert spec["type"] == "presubmit" and spec["refs"]["pulls"][0]["number"] == 7
    assert spec["decoration_config"] == {"timeout": "10m"}


def test_pull_refs_string_without_shas() -> None:
    refs = Refs(org="o", repo="r", base_ref="main", pulls=[Pull(number=1), Pull(number=2, sha="c")])
    assert pull_refs_string(refs) == "main,1,2:c"


def test_limits_from_decoration_config_or_defaults() -> None:
    job = Periodic.model_validate(
        {"name": "p", "decoration_config": {"timeout": "1h30m", "grace_period": "20s"}}
    )
    lim = limits(job, 7200, 15)
    assert (lim.timeout, lim.timeout_text, lim.grace) == (5400, "1h30m", 20)
    lim = limits(Periodic(name="p"), 7200, 15)
    assert (lim.timeout, lim.timeout_text, lim.grace) == (7200, "2h", 15)
    assert format_seconds(90) == "1m30s" and format_seconds(0.5) == "0.5s"


def test_owner_ids_and_job_limits() -> None:
    owner = new_owner()
    parsed = owner_host_pid(owner)
    assert parsed is not None and parsed[1] == os.getpid()
    assert owner_host_pid("bogus") is None and owner_host_pid(None) is None
    assert job_limit({"max_concurrency": 2}) == 2
    assert job_limit({"max_concurrency": 0}) == 0 and job_limit({}) == 0 and job_limit(None) == 0


def test_main_refuses_unreadable_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read settings" in capsys.readouterr().err


def test_prowjob_names_the_pushed_images(tmp_path: Path) -> None:
    out, workspace = tmp_path / "out", tmp_path / "ws"
    workspace.mkdir()
    out.mkdir()
    pushed = ["127.0.0.1:5000/app:1@sha256:" + "a" * 64, "127.0.0.1:5000/app:latest@sha256:b"]
    finished = {"timestamp": 2, "metadata": {"images": [*pushed, 3]}}
    (out / "finished.json").write_text(json.dumps(finished))
    job = Job(id=4, name="build", type="periodic", job_config={})
    data = artifacts.prowjob(
        job, build_id="1", state="success", description="ok", url=None, finished=None
    )
    artifacts.complete_out(out, job, workspace, final_sha="", prowjob_data=data)
    written = json.loads((out / "prowjob.json").read_text())
    assert written["metadata"]["annotations"]["foredeck.dev/images"] == "\n".join(pushed)
    (out / "finished.json").write_text('{"timestamp": 2}')
    artifacts.complete_out(
        out,
        job,
        workspace,
        final_sha="",
        prowjob_data=artifacts.prowjob(
            job, build_id="1", state="success", description="ok", url=None, finished=None
        ),
    )
    written = json.loads((out / "prowjob.json").read_text())
    assert "foredeck.dev/images" not in written["metadata"]["annotations"]
