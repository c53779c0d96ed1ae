"""`foredeck jobs` against a real HTTP server (uvicorn in a thread) serving the service app."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from foredeck.cli import app
from foredeck.db import Job, session_factory
from tests.api.helpers import TOKEN, app_for, finish, postsubmit, presubmit, seed
from tests.db.fixtures import Database
from tests.kit.server import free_port, running

ENV = {"COLUMNS": "200", "FOREDECK_SERVER": "", "FOREDECK_API_TOKEN": ""}


@pytest.fixture
def server(db: Database, tmp_path: Path) -> Iterator[str]:
    with running(app_for(db, tmp_path)) as url:
        yield url


def jobs(server: str, *args: str, token: str | None = None) -> tuple[int, str, str]:
    argv = ["jobs", "--server", server, *(["--token", token] if token else []), *args]
    result = CliRunner().invoke(app, argv, env=ENV)
    return result.exit_code, result.stdout, result.stderr


def test_list_and_show(db: Database, server: str) -> None:
    ids = seed(db, presubmit("unit", pr=7, author="alice"), postsubmit("publish"))
    finish(db, ids[0], "failure")
    code, out, err = jobs(server, "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID",
        "NAME",
        "TYPE",
        "STATE",
        "REPO",
        "PR",
        "AUTHOR",
        "CREATED",
        "TOOK",
    ]
    assert lines[1].split()[:4] == [str(ids[1]), "publish", "postsubmit", "triggered"]
    assert lines[2].split()[:7] == [
        str(ids[0]),
        "unit",
        "presubmit",
        "failure",
        "acme/widget",
        "7",
        "alice",
    ]
    code, out, _ = jobs(server, "list", "--author", "alice", "--state", "failure")
    assert (
        code == 0 and len(out.splitlines()) == 2 and out.splitlines()[1].split()[0] == str(ids[0])
    )
    code, out, _ = jobs(server, "list", "--limit", "1")
    assert code == 0 and f"more: --after {ids[1]}" in out
    code, out, _ = jobs(server, "list", "--author", "nobody")
    assert code == 0 and out.strip() == "no jobs"

    code, out, err = jobs(server, "show", str(ids[0]))
    assert code == 0, err
    fields = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    assert fields["name"].strip() == "unit"
    assert fields["state"].strip() == "failure"
    assert fields["repo"].strip() == "acme/widget"
    assert fields["pulls"].strip() == f"#7 {'b' * 12} by alice"
    assert fields["reason"].strip() == "opened"

    code, _, err = jobs(server, "show", "9999")
    assert code == 1 and "404: no job 9999" in err


def test_piped_output_is_never_cut_and_json_and_wide_say_everything(
    db: Database, server: str
) -> None:
    name = "pull-kubernetes-e2e-gce-ubuntu-containerd-serial-alpha-features"  # 62 characters
    ids = seed(db, presubmit(name, pr=123456, author="a-very-long-github-login-of-someone"))
    finish(db, ids[0], "failure")
    argv = ["jobs", "--server", server, "list"]
    piped = {**ENV, "COLUMNS": ""}  # no terminal, no width: rich would cut at 80 columns
    out = CliRunner().invoke(app, argv, env=piped).stdout
    header, row = out.splitlines()
    assert header.split() == [
        "ID", "NAME", "TYPE", "STATE", "REPO", "PR", "AUTHOR", "CREATED", "TOOK",
    ]  # fmt: skip
    assert name in row.split() and "a-very-long-github-login-of-someone" in row.split()
    assert len(row) > 80

    result = CliRunner().invoke(app, [*argv, "-o", "json"], env=piped)
    page = json.loads(result.stdout)
    assert [job["name"] for job in page["jobs"]] == [name] and page["next"] is None
    wide = CliRunner().invoke(app, [*argv, "--output", "wide"], env=piped).stdout
    assert wide.splitlines()[0].split()[-2:] == ["BUILD", "DESCRIPTION"]
    shown = CliRunner().invoke(app, [*argv[:3], "show", str(ids[0]), "-o", "json"], env=piped)
    assert json.loads(shown.stdout)["name"] == name


def test_abort_and_rerun(db: Database, server: str) -> None:
    (job_id,) = seed(db, presubmit("unit"))
    code, _, err = jobs(server, "abort", str(job_id))
    # The refusal says how to pass the token, in the CLI's terms.
    assert code == 1 and "401" in err and "--token" in err and "FOREDECK_API_TOKEN" in err, err
    code, _, err = jobs(server, "abort", str(job_id), token="wrong")
    assert code == 1 and "401" in err and "refused" in err, err
    code, out, err = jobs(server, "abort", str(job_id), token=TOKEN)
    assert code == 0, err
    assert out.strip() == f"job {job_id} aborted"
    code, _, err = jobs(server, "abort", str(job_id), token=TOKEN)
    assert code == 1 and "409" in err and "already finished (aborted)" in err
    code, out, err = jobs(server, "rerun", str(job_id), token=TOKEN)
    assert code == 0, err
    rerun = re.fullmatch(rf"job {job_id} rerun as job (\d+) \(triggered\)", out.strip())
    assert rerun is not None, out
    with session_factory(db.engine)() as session:
        new = session.get(Job, int(rerun.group(1)))
        assert new is not None and (new.name, new.state, new.cause) == ("unit", "triggered", "api")


def test_logs(db: Database, server: str, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "out").mkdir(parents=True)
    (workspace / "out" / "build-log.txt").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    job_id, bare = seed(db, presubmit("unit"), presubmit("lint"))
    with session_factory(db.engine).begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(workspace=str(workspace)))
    code, out, err = jobs(server, "logs", str(job_id))
    assert code == 0, err
    assert out.splitlines()[0] == "line 1" and out.splitlines()[-1] == "line 100"
    code, out, err = jobs(server, "logs", str(job_id), "--tail", "3")
    assert code == 0, err
    assert out == "line 98\nline 99\nline 100\n"
    code, _, err = jobs(server, "logs", str(bare))
    assert code == 1 and f"job {bare} has no build log yet" in err


def test_unreachable_server_exits_2() -> None:
    code, _, err = jobs(f"http://127.0.0.1:{free_port()}", "list")
    assert code == 2
    assert "cannot reach foredeck at http://127.0.0.1:" in err
