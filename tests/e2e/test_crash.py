"""A `kill -9` of `foredeck serve` while jobs run steps that left their session (`setsid`, double
forks), then a restart on the same database: no process of the old runs survives, every job
ends, none runs twice; and a job that succeeds leaves nothing running either. Sandboxed steps
(bubblewrap) and unsandboxed ones (`controller.sandbox.mode: none`) alike.
"""

from __future__ import annotations

import secrets
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.e2e.harness import E2E, job_config, lines, presubmit
from tests.execute.helpers import require_bwrap
from tests.kit.wait import wait_for

pytestmark = pytest.mark.timeout(180)

DIED = "controller died while running the job"


def escaping_step(host: Path, token: str) -> str:
    """Records its run, leaves three `sleep <token>`s outside its session (one `setsid`, two
    double-forked), then waits for the restart (runs after the restart end at once)."""
    sleep = f"sleep {token}"
    return f"""echo "$PROW_JOB_ID" >> {host}/runs.txt
f={host}/children-$PROW_JOB_ID
setsid sh -c "echo 1 >> $f; exec {sleep}" &
setsid sh -c "{sleep} & echo 2 >> $f" &
(setsid sh -c "{sleep} & echo 3 >> $f" &)
while [ "$(cat $f 2>/dev/null | wc -l)" -lt 3 ]; do sleep 0.05; done
[ -f {host}/restarted ] || exec sleep 300"""


def sleepers(token: str) -> list[psutil.Process]:
    """The live processes a step started as `sleep <token>` (in or out of a sandbox)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["cmdline"] == ["sleep", token] and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_kill_9_of_serve_leaves_no_process_of_its_runs_and_every_job_ends_once(
    e2e: E2E, mode: str
) -> None:
    if mode == "bwrap":
        require_bwrap()
    host = e2e.host
    token = f"3000.{secrets.randbelow(10**6):06d}"  # sleep takes a fraction; unique per test
    jobs = [presubmit(name, e2e.repo, escaping_step(host, token)) for name in ("a", "b", "c")]
    sandbox = {"mode": mode, "bind": [str(host)]}
    settings: dict[str, Any] = {"max_concurrency": 2, "sandbox": sandbox}
    server = e2e.serve(job_config(presubmits=jobs), controller=settings)
    e2e.open_pull(server, 1, {"feature.txt": "x\n"})
    wait_for("two jobs running, each with 3 escaped children", lambda: len(sleepers(token)) >= 6)
    assert len(lines(host / "runs.txt")) == 2

    server.kill()
    if mode == "none":  # nothing died with the server: the restart must find them
        assert len(sleepers(token)) == 6
    else:  # bubblewrap dies with the server, and its PID namespace with it
        wait_for("the sandboxes to die with the server", lambda: not sleepers(token), timeout=30)
    (host / "restarted").touch()
    server.start()

    found = wait_for("every job to end", lambda: server.finished(3, pr=1), timeout=90)
    states = {job["name"]: (job["state"], job["description"]) for job in found}
    assert states == {
        "a": ("error", DIED),
        "b": ("error", DIED),
        "c": ("success", "Job succeeded."),
    }
    runs = Counter(lines(host / "runs.txt"))
    assert sorted(runs.values()) == [1, 1, 1], f"a job ran twice: {runs}"
    # Both dead runs' children, and those of the run that succeeded after the restart.
    wait_for("no process of any run left", lambda: not sleepers(token), timeout=30)
