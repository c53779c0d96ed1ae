"""Step output and the executor's own lines are censored before they reach the build log."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from foredeck.censor import Censor
from foredeck.execute.local import run_pipeline
from foredeck.execute.logs import MAX_LINE_BYTES, BuildLog, LogIndex, TaskLogger
from foredeck.pipeline.model import ParamSpec, PipelineRunSpec
from foredeck.storage.tasklog import read_task_log
from tests.execute.helpers import pipeline, task

SECRET = "Sup3r-Secret-Value"
READ = 65536


def _logger(tmp_path: Path) -> tuple[BuildLog, TaskLogger]:
    build_log = BuildLog(tmp_path / "build-log.txt", censor=Censor([SECRET]))
    index = LogIndex(tmp_path / "tasks" / "t" / "log.index")
    return build_log, TaskLogger("t", index, build_log)


def test_a_secret_split_at_every_point_of_a_64_kib_read(tmp_path: Path) -> None:
    build_log, logger = _logger(tmp_path)
    value = SECRET.encode()
    encoded = base64.b64encode(value)
    for form in (value, encoded):
        for cut in range(1, len(form)):
            output = logger.step_output("s")
            output.feed(b"y" * (READ - cut) + form[:cut])
            output.feed(form[cut:] + b" end\n")
            output.flush()
    logger.message(f"exit with {SECRET}")
    logger.close()
    build_log.close()
    log = (tmp_path / "build-log.txt").read_bytes()
    assert value not in log and encoded not in log
    lines = log.splitlines()
    assert sum(line.endswith(b"yCENSORED end") for line in lines) == len(value) + len(encoded) - 2
    assert lines[-1].endswith(b"[t/foredeck] exit with CENSORED")
    assert read_task_log(tmp_path, "tasks/t/log.index") == log


def test_a_secret_across_the_cut_of_an_over_long_line(tmp_path: Path) -> None:
    build_log, logger = _logger(tmp_path)
    output = logger.step_output("s")
    head = b"z" * (MAX_LINE_BYTES + 100)
    output.feed(head + SECRET.encode()[:5])
    output.feed(SECRET.encode()[5:] + b"\n")
    output.flush()
    build_log.close()
    log = (tmp_path / "build-log.txt").read_bytes()
    assert SECRET.encode()[:5] not in log and SECRET.encode()[5:] not in log
    assert log.count(b"\n") == 2 and log.endswith(b"zCENSORED\n")


def test_a_secret_held_back_at_the_end_of_a_step_is_still_censored(tmp_path: Path) -> None:
    build_log, logger = _logger(tmp_path)
    output = logger.step_output("s")
    output.feed(b"no newline at the end " + SECRET.encode()[:-1])
    output.feed(SECRET.encode()[-1:])
    output.flush()
    build_log.close()
    assert (tmp_path / "build-log.txt").read_bytes().endswith(b"at the end CENSORED\n")


async def test_a_local_run_censors_its_params_results_and_logs(tmp_path: Path) -> None:
    p = pipeline(
        task(
            "leak",
            'echo "got $(params.token)" && printf "%s" "$(params.token)" > $(results.r.path)',
            task_params=["token"],
            params={"token": "$(params.token)"},
            results=["r"],
        ),
        params=[ParamSpec("token")],
    )
    out = tmp_path / "out"
    spec = PipelineRunSpec(p, {"token": SECRET}, name="r1")
    result = await run_pipeline(spec, out, kill_grace=0.5, censor=Censor([SECRET]))
    assert result.status == "Succeeded"
    files = {name: (out / name).read_text() for name in ("build-log.txt", "pipeline-run.json")}
    files["started.json"] = (out / "started.json").read_text()
    for name, text in files.items():
        assert SECRET not in text, name
    run = json.loads(files["pipeline-run.json"])
    assert run["params"]["token"] == "CENSORED"
    assert run["tasks"]["leak"]["results"]["r"] == "CENSORED"
    assert json.loads(files["started.json"])["metadata"]["params"]["token"] == "CENSORED"
    assert "got CENSORED" in files["build-log.txt"]
