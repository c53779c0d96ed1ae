"""The browser tests' world: a real `foredeck serve` (SQLite, local SCM provider) whose database
is filled by running real jobs on a real git repository, never by hand-written rows.

- `acme/widget` is a local git repository; branch `pr/7` is pull request 7 (local provider), with
  two commits pushed one after the other, so PR history has two commit groups.
- `pass-job` and `fail-job` are presubmits (`always_run`) run by the watcher and trigger plugin
  on each head; `fail-job` runs the PR's `fail.sh`: ANSI colours, a long passing stretch, error
  lines, a `<script>` line and a JUnit file with one failed test in `$ARTIFACTS`.
- `flaky-job` is a postsubmit of `main` (started through the API on its head) whose test
  `widget.test_racy` fails on odd job ids; `flaky_runs` reruns it on one commit until it has
  failed and passed there. It and `fail-job` carry TestGrid dashboard annotations.
- `pipeline-job` is an inline Tekton pipeline (a diamond and a `finally`), `slow-job` sleeps a
  few seconds (live update, abort), `long-job` until it is aborted; all are periodics on a
  yearly cron, started through `POST /api/jobs` (Prow's gangway).

The server is the kit's `ServerProcess`: teardown kills its group and every process it left
(job steps run in sessions of their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import yaml

from tests.kit.git import Repo, git
from tests.kit.jobs import FINAL, shell, tekton_task
from tests.kit.server import ServerProcess
from tests.kit.wait import wait_for

ORG, REPO, PR = "acme", "widget", 7
TOKEN = "browser-test-token"
XSS = "<script>alert(1)</script>"
SLOW_SECONDS = 10  # long enough for a busy machine to show the job running, log and all

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="widget" tests="2">
    <testcase classname="widget" name="test_adds" time="0.25"/>
    <testcase classname="widget" name="test_divides" time="1.5">
      <failure message="ZeroDivisionError: division by zero">Traceback: divide(1, 0) blew up
      </failure>
    </testcase>
  </testsuite>
</testsuites>
"""

PIXEL_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAAAAgAB4iG8MwAAAABJRU5ErkJggg=="
)
"""A 1x1 PNG, base64 (the artifacts lens shows it inline)."""
# The pull request's test script: what a contributor's failing test run prints and saves.
FAIL_SH = f"""#!/bin/sh
printf '\\033[32mcompiling widget\\033[0m\\n'
i=1
while [ $i -le 40 ]; do echo "step $i ok"; i=$((i + 1)); done
echo 'ERROR: widget test failed'
echo '{XSS}'
cat > "$ARTIFACTS/junit_1.xml" <<'EOF'
{JUNIT}EOF
echo 'coverage 81% {XSS}' > "$ARTIFACTS/notes.txt"
echo '{{"passed": 0, "failed": 1}}' > "$ARTIFACTS/result.json"
echo '{PIXEL_PNG}' | base64 -d > "$ARTIFACTS/pixel.png"
printf '\\033[31mFAIL\\033[0m widget\\n'
exit 1
"""


# A diamond: prepare -> (left, right) -> join; finally: cleanup.
DIAMOND: list[dict[str, Any]] = [
    tekton_task("prepare", "#!/bin/sh\necho preparing the diamond\n"),
    tekton_task("left", "#!/bin/sh\necho left branch says hello\n"),
    tekton_task("right", "#!/bin/sh\necho right branch says hello\n"),
    tekton_task("join", "#!/bin/sh\necho joining both branches\n"),
    tekton_task("cleanup", "#!/bin/sh\necho cleaning up\n"),
    {
        "apiVersion": "tekton.dev/v1",
        "kind": "Pipeline",
        "metadata": {"name": "diamond"},
        "spec": {
            "tasks": [
                {"name": "prepare", "taskRef": {"name": "prepare"}},
                {"name": "left", "taskRef": {"name": "left"}, "runAfter": ["prepare"]},
                {"name": "right", "taskRef": {"name": "right"}, "runAfter": ["prepare"]},
                {"name": "join", "taskRef": {"name": "join"}, "runAfter": ["left", "right"]},
            ],
            "finally": [{"name": "cleanup", "taskRef": {"name": "cleanup"}}],
        },
    },
]


# A test that fails on odd job ids: reruns of `flaky-job` on one commit fail and pass in turn.
FLAKY_SH = """racy=''
code=0
if [ $((PROW_JOB_ID % 2)) -eq 1 ]; then
  racy='<failure message="timed out waiting for the widget">racy</failure>'
  code=1
fi
cat > "$ARTIFACTS/junit_flaky.xml" <<XML
<testsuites><testsuite name="widget">
<testcase classname="widget" name="test_stable" time="0.1"/>
<testcase classname="widget" name="test_racy" time="0.2">$racy</testcase>
</testsuite></testsuites>
XML
echo "run $PROW_JOB_ID exits $code"
exit $code
"""
SIG = "widget-sig"
"""The TestGrid dashboard of `fail-job` (tab `widget-fail`) and `flaky-job`."""

YEARLY = "0 0 1 1 *"
"""Periodics that never fire during a test: they are started through the API."""

JOBS: dict[str, Any] = {
    "presubmits": {
        f"{ORG}/{REPO}": [
            {"name": "pass-job", "always_run": True, "spec": shell("echo ok", "busybox")},
            {
                "name": "fail-job",
                "always_run": True,
                "spec": {"containers": [{"image": "busybox", "command": ["sh", "./fail.sh"]}]},
                "annotations": {"testgrid-dashboards": SIG, "testgrid-tab-name": "widget-fail"},
            },
        ]
    },
    "postsubmits": {
        f"{ORG}/{REPO}": [
            {
                "name": "flaky-job",
                "branches": ["main"],
                "spec": shell(FLAKY_SH, "busybox"),
                "annotations": {"testgrid-dashboards": f"{SIG}, widget-flakes"},
            }
        ]
    },
    "periodics": [
        {"name": "pipeline-job", "cron": YEARLY, "pipeline": DIAMOND},
        {
            "name": "slow-job",
            "cron": YEARLY,
            # an error line and 60 more first: the running page's log has a fold (a stretch
            # away from errors) to keep open across refreshes
            "spec": shell(
                f"echo 'ERROR: no'; seq 1 60; echo waiting; sleep {SLOW_SECONDS}; echo done",
                "busybox",
            ),
        },
        {
            "name": "long-job",
            "cron": YEARLY,
            # as slow-job, but running until aborted: a test sees it running however busy
            "spec": shell("echo 'ERROR: no'; seq 1 60; echo waiting; sleep 600", "busybox"),
        },
    ],
}


@dataclass
class Jobs:
    """The finished runs the tests look at (JSON rows of `/api/jobs`)."""

    passed: dict[str, Any]
    failed: dict[str, Any]
    pipeline: dict[str, Any]
    heads: list[str]
    """The pull request's two heads, oldest first."""
    older_failed: dict[str, Any]


@dataclass(kw_only=True)
class Server(ServerProcess):
    """`foredeck serve` (role all) on SQLite and the local SCM provider, in `workdir`."""

    api_token: str | None = TOKEN

    def settings(self) -> dict[str, Any]:
        (self.workdir / "jobs.yaml").write_text(yaml.safe_dump(JOBS, sort_keys=False))
        fast = {"poll_interval": 0.2}
        return {
            "database_url": f"sqlite:///{self.workdir / 'foredeck.db'}",
            "scm": {"provider": "local", "local_root": "repos", "local_poll_interval": 0.2},
            "config_path": "jobs.yaml",
            "api": {"token": TOKEN},
            "worker": fast,
            "controller": {**fast, "max_concurrency": 4, "heartbeat_interval": 1.0},
            "reporter": fast,
            "periodics": {"tick": 0.2},
        }

    # -- filling the database by running jobs ---------------------------------------------------

    def api_post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = httpx.post(
            f"{self.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    def abort(self, job_id: int) -> None:
        r = httpx.post(
            f"{self.url}/api/jobs/{job_id}/abort",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text

    def flaky_runs(self, most: int = 8) -> list[dict[str, Any]]:
        """`flaky-job` on `main`'s head, started through the API and rerun until it has both
        failed and passed there and the newest run failed (a failure of a known flake)."""
        sha = git(self.workdir / "repos" / ORG / REPO, "rev-parse", "main")
        refs = {"org": ORG, "repo": REPO, "base_ref": "main", "base_sha": sha}
        body = {"name": "flaky-job", "type": "postsubmit", "refs": refs}
        runs = [self.final(int(self.api_post("/api/jobs", body)["id"]))]
        while {"success", "failure"} - {r["state"] for r in runs} or runs[-1]["state"] != "failure":
            assert len(runs) < most, f"no flake in {[r['state'] for r in runs]}"
            rerun = self.api_post(f"/api/jobs/{runs[-1]['id']}/rerun")
            runs.append(self.final(int(rerun["id"])))
        return runs

    def presubmits_on(self, sha: str) -> list[dict[str, Any]] | None:
        """`pass-job` and `fail-job` on head `sha`, once both are final."""
        found: dict[str, dict[str, Any]] = {}
        for job in reversed(self.jobs(type="presubmit", pr=PR)):
            if job["name"] in found:
                continue
            if self.job(int(job["id"]))["pulls"][0].get("sha") == sha:
                found[job["name"]] = job
        if set(found) != {"pass-job", "fail-job"}:
            return None
        if any(j["state"] not in FINAL for j in found.values()):
            return None
        return [found["pass-job"], found["fail-job"]]

    def _wait_presubmits(self, head: str) -> list[dict[str, Any]]:
        def done() -> list[dict[str, Any]] | None:
            return self.presubmits_on(head)

        return wait_for(f"the presubmits on {head} to finish", done, timeout=60)

    def fill(self) -> Jobs:
        """Run the jobs the pages show: two heads of PR 7 and the pipeline."""
        repo = Repo(self.workdir / "repos" / ORG / REPO, {"README.md": "widget\n"})
        pipeline = self.start_job("pipeline-job")
        heads: list[str] = []
        runs = []
        for n in (1, 2):
            files = {"fail.sh": FAIL_SH, "change.txt": f"change {n}\n"}
            heads.append(repo.topic(f"pr/{PR}", files, f"Change {n}"))
            runs.append(self._wait_presubmits(heads[-1]))
        return Jobs(
            passed=runs[1][0],
            failed=runs[1][1],
            older_failed=runs[0][1],
            pipeline=self.final(int(pipeline["id"])),
            heads=heads,
        )
