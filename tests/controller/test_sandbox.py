"""A job cannot read the service's secrets or write outside its workspace (host runtime).

How each attempt is stopped:
- the server's environment: steps get an allow-list of it (`controller/env.py`), and their own
  PID namespace, so `/proc/<controller pid>/environ` names no process of the controller;
- the settings file, the token file, the SQLite database: bubblewrap mounts `/dev/null` over each
  file (`execute/isolation.py` derives the list from the settings);
- other jobs' workspaces and the controller's own files: the whole workdir is an empty tmpfs in
  the sandbox, with only this run's directories bound back;
- anything else on the host: mounted read-only; `/tmp` is a private tmpfs; and, foredeck running
  as root here, the step runs as `nobody` with no capabilities.
Each attempt prints `blocked: WHAT` or `ESCAPED: WHAT`; the test also checks the host side.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from foredeck.controller import Controller
from foredeck.db import session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import set_state
from foredeck.settings import load_settings
from tests.controller.helpers import add_job, get_job, run_all, spec_config
from tests.db.fixtures import Database

pytestmark = pytest.mark.usefixtures("needs_bwrap")

API_TOKEN = "api-token-4f1c9b"
GITHUB_TOKEN = "ghp_token_8d2e77"
ENV_SECRET = "aws-secret-1a2b3c"


def probe_script(paths: dict[str, Path], controller_pid: int) -> str:
    """Every attempt, as `check NAME COMMAND`: COMMAND succeeding means the job got through."""
    attempts = {
        "env-github-token": f"env | grep -q {GITHUB_TOKEN}",
        "env-aws-secret": f"env | grep -q {ENV_SECRET}",
        "env-any-foredeck-variable": "env | grep -q ^FOREDECK_",
        "controller-environ": f"grep -q PATH= /proc/{controller_pid}/environ",
        "read-settings": f"grep -q {API_TOKEN} {paths['settings']}",
        "read-token-file": f"grep -q {GITHUB_TOKEN} {paths['token']}",
        "read-database": f"cat {paths['database']}* | grep -q sandboxed-probe",
        "read-other-workspace": f"grep -q other-job {paths['other'] / 'secret.txt'}",
        "write-other-workspace": f"echo hacked >> {paths['other'] / 'secret.txt'}",
        "write-workdir": f"touch {paths['workdir'] / 'escaped'}",
        "write-database": f"echo hacked >> {paths['database']}",
        "write-settings": f"echo hacked >> {paths['settings']}",
        "write-beside-database": f"touch {paths['database'].parent / 'escaped'}",
        "write-system": f"touch {paths['system']}",
        "write-own-finished-json": "touch $HOME/../../finished.json",
    }
    lines = [
        'check() { if sh -c "$2" >/dev/null 2>&1; then echo "ESCAPED: $1"; '
        'else echo "blocked: $1"; fi; }'
    ]
    lines += [f"check {name} '{command}'" for name, command in attempts.items()]
    lines.append("echo $ARTIFACTS > $ARTIFACTS/where && echo wrote-own-artifacts")
    return "\n".join(lines)


@pytest.fixture
def needs_bwrap() -> None:
    if shutil.which("bwrap") is None:
        message = "bubblewrap (bwrap) is not installed; .ci/run installs it"
        if os.environ.get("SANDBOX_TESTS_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)


async def test_a_job_cannot_read_secrets_or_write_outside_its_workspace(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET)
    token = tmp_path / "creds" / "github-token"
    token.parent.mkdir()
    token.write_text(GITHUB_TOKEN)
    workdir = tmp_path / "runs"
    other_id = add_job(sqlite_db, "other", spec_config("true"))
    with write_lock(sqlite_db.engine), session_factory(sqlite_db.engine).begin() as session:
        assert set_state(session, other_id, "success")  # finished just now: its files stay
    other = workdir / str(other_id) / "src"  # that job's checkout
    other.mkdir(parents=True)
    (other / "secret.txt").write_text("other-job\n")
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text(
        yaml.safe_dump(
            {
                "database_url": sqlite_db.url,
                "api": {"token": API_TOKEN},
                "github": {"token_file": str(token)},
                "controller": {
                    "workdir": str(workdir),
                    "mirror_dir": str(tmp_path / "mirrors"),
                    "poll_interval": 0.05,
                    "sandbox": {"mode": "bwrap"},
                },
                "artifacts": {"url": f"file://{tmp_path / 'artifacts'}"},
            }
        )
    )
    settings = load_settings(settings_file, environ={})
    database = Path(sqlite_db.engine.url.database or "")
    paths = {
        "settings": settings_file,
        "token": token,
        "database": database,
        "other": other,
        "workdir": workdir,
        "system": Path(f"/usr/local/foredeck-escaped-{os.getpid()}"),
    }
    before = {name: path.read_bytes() for name, path in paths.items() if path.is_file()}
    job_id = add_job(sqlite_db, "sandboxed-probe", spec_config(probe_script(paths, os.getpid())))

    await run_all(Controller(sqlite_db.engine, settings))

    job = get_job(sqlite_db, job_id)
    assert job.state == "success", job.description
    log = (Path(str(job.workspace)) / "out" / "build-log.txt").read_text()
    verdicts = [line.split("] ", 1)[1] for line in log.splitlines() if ": " in line]
    escaped = [v for v in verdicts if v.startswith("ESCAPED")]
    blocked = [v for v in verdicts if v.startswith("blocked")]
    assert escaped == [], log
    assert len(blocked) == 15, log
    assert "wrote-own-artifacts" in log  # the sandbox is not simply broken: its own dirs work
    for secret in (API_TOKEN, GITHUB_TOKEN, ENV_SECRET):
        assert secret not in log
    # The host side: nothing outside the job's own directories changed.
    assert {name: path.read_bytes() for name, path in paths.items() if path.is_file()} == before
    assert not (workdir / "escaped").exists()
    assert not (database.parent / "escaped").exists()
    assert not paths["system"].exists()
