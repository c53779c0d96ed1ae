"""The whole embedded setup in one `foredeck serve` process, without GitHub: a pull request in a
local repository runs its presubmit, the result is reported as a commit status and a comment,
and `/test` through the API runs it again. Exercises the wiring between every component."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from foredeck.db import ScmStatus, make_engine, session_factory
from tests.kit.git import Repo
from tests.kit.server import serve
from tests.kit.wait import wait_for

JOBS = """\
presubmits:
  acme/widget:
  - name: unit
    always_run: true
    spec: {containers: [{image: alpine, command: [sh, -c, "cat feature.txt"]}]}
"""


def jobs(url: str, **params: Any) -> list[dict[str, Any]]:
    page = httpx.get(f"{url}/api/jobs", params=params, timeout=10).json()
    result: list[dict[str, Any]] = page["jobs"]
    return result


def test_pull_request_in_a_local_repository_end_to_end(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repos" / "acme" / "widget", {"README": "widget\n"})
    (tmp_path / "jobs.yaml").write_text(JOBS)
    config = {
        "scm": {"provider": "local", "local_root": "repos", "local_poll_interval": 0.2},
        "config_path": "jobs.yaml",
        "api": {"token": "t"},
        "worker": {"poll_interval": 0.2},
        "controller": {"poll_interval": 0.2},
        "reporter": {"poll_interval": 0.2},
    }
    with serve(tmp_path, "all", config) as server:
        url = server.url
        head = repo.topic("pr/1", {"feature.txt": "the feature\n"}, "Add the feature")

        def finished_presubmits() -> list[dict[str, Any]]:
            rows = jobs(url, type="presubmit", pr=1)
            return rows if rows and rows[0]["state"] not in ("triggered", "pending") else []

        (first,) = wait_for("the presubmit to finish", finished_presubmits)
        assert (first["name"], first["state"], first["authors"]) == ("unit", "success", ["alice"])
        log = httpx.get(f"{url}/api/jobs/{first['id']}/log", timeout=10).text
        assert "the feature" in log

        comment = httpx.post(
            f"{url}/api/repos/acme/widget/pulls/1/comments",
            json={"body": "/test unit", "author": "bob"},
            headers={"Authorization": "Bearer t"},
            timeout=10,
        )
        assert comment.status_code == 201, comment.text

        def rerun_finished() -> list[dict[str, Any]]:
            rows = finished_presubmits()
            return rows if len(rows) == 2 and rows[0]["state"] == "success" else []

        wait_for("the /test run", rerun_finished)

        engine = make_engine(f"sqlite:///{tmp_path / '.foredeck' / 'foredeck.db'}")
        try:

            def status() -> ScmStatus | None:
                with session_factory(engine)() as session:
                    return session.execute(
                        select(ScmStatus).where(ScmStatus.sha == head, ScmStatus.state == "success")
                    ).scalar_one_or_none()

            reported = wait_for("the commit status", status)
            assert reported is not None
            assert (reported.context, reported.org, reported.repo) == ("unit", "acme", "widget")
        finally:
            engine.dispose()
        server.terminate()
