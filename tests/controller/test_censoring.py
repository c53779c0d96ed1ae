"""A job's secrets never reach what is stored of it: build log, task log, text artifacts, JUnit.

The step prints each secret plain and in base64, once split across two writes 64 KiB into a
line longer than the line cut (`MAX_LINE_BYTES`), once split around the 64 KiB pipe read; the
published build directory holds the mask and never a secret.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from foredeck.censor import MASK
from foredeck.controller import Controller
from foredeck.storage.tasklog import read_task_log
from tests.controller.helpers import add_job, get_job, make_settings, run_all, spec_config
from tests.db.fixtures import Database

CONFIGURED = "cfg-Secret-4c1d9e"
API_TOKEN = "api-token-77f0aa"
READ = 65536


def _script(secret: str) -> str:
    encoded = base64.b64encode(secret.encode()).decode()
    inner = base64.b64encode(f"user:{secret}".encode()).decode()  # the secret at offset 5
    half = len(secret) // 2
    ys = "head -c {} /dev/zero | tr '\\0' y"
    return "\n".join(
        [  # one write ends mid-secret, 64 KiB into a line, then 1000 bytes after the line cut
            f"{{ {ys.format(READ - half)}; printf %s {secret[:half]}; }} | cat",
            f"sleep 0.3; printf '%s tail\\n' {secret[half:]}",
            f"{{ {ys.format(READ + 1000 - half)}; printf %s {secret[:half]}; }} | cat",
            f"sleep 0.3; printf '%s cut\\n' {secret[half:]}",
            f"echo 'plain {secret} and base64 {encoded} and auth {inner}'",
            f"{ys.format(READ - 10)}; sleep 0.3; printf '%s\\n' {encoded}",
            f"echo 'notes: {secret}' > $ARTIFACTS/notes.txt",
            f'printf \'<testsuite><testcase name="t"><failure message="{secret}">{encoded}'
            "</failure></testcase></testsuite>' > $ARTIFACTS/junit_censor.xml",
        ]
    )


async def test_secrets_are_masked_in_every_stored_file(db: Database, tmp_path: Path) -> None:
    script = "\n".join(_script(secret) for secret in (CONFIGURED, API_TOKEN))
    job_id = add_job(db, "leaky", spec_config(script))
    settings = make_settings(tmp_path, db)
    settings = settings.model_validate(
        {
            **settings.model_dump(mode="python"),
            "censor": {"values": [CONFIGURED]},
            "api": {"token": API_TOKEN},
        }
    )
    await run_all(Controller(db.engine, settings), deadline=120)
    job = get_job(db, job_id)
    assert job.state == "success", job.description
    build = tmp_path / "artifacts" / "logs" / "leaky" / str(job.build_id)
    run = json.loads((build / "pipeline-run.json").read_text())
    task_log = read_task_log(build, run["tasks"]["test"]["log"])
    artifacts = [p for p in (build / "artifacts").rglob("*") if p.is_file()]
    names = sorted(p.name for p in artifacts)
    assert names == ["junit_censor.xml", "notes.txt"]
    stored = {
        "build-log.txt": (build / "build-log.txt").read_bytes(),
        "task log": task_log,
        **{p.name: p.read_bytes() for p in artifacts},
    }
    for secret in (CONFIGURED, API_TOKEN):
        forms = [secret, base64.b64encode(secret.encode()).decode(), secret[1:-1]]
        for name, data in stored.items():
            for form in forms:
                assert form.encode() not in data, (name, form)
    log = stored["build-log.txt"]
    assert log.count(MASK) == 2 * 6  # split twice, plain, base64, inside base64, after 64 KiB
    assert stored["task log"].count(MASK) == log.count(MASK)
    assert stored["notes.txt"] == b"notes: CENSORED\n"
    assert stored["junit_censor.xml"].count(MASK) == 2
    lines = log.splitlines()
    assert sum(line.endswith(b"yCENSORED tail") for line in lines) == 2
    cut = [line for line in lines if line.endswith(b"yCENSORED cut")]
    assert len(cut) == 2 and all(len(line) < 200 for line in cut)  # continues a cut line
