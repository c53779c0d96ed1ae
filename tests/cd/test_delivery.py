"""A successful postsubmit that pushed images bumps them in its `cd:` targets, through the
controller and the local SCM provider: two builds in a row give one pull request, updated."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from foredeck.cd.pulls import EditFn
from foredeck.cd_pr.lock import FileLock
from foredeck.cd_pr.wiring import Built, CdRunner
from foredeck.config.cd import CdTarget
from foredeck.controller import Controller
from foredeck.controller.delivery import cd_runner_from_settings, pending_delivery
from foredeck.db import Job, session_factory
from foredeck.db.engine import write_lock
from foredeck.db.jobs import JobCreate, Refs, create_job
from foredeck.execute.executor import RunRequest
from foredeck.execute.executors import BUILTIN, Executors
from foredeck.execute.record import RunRecord
from foredeck.execute.runstate import RunResult, TaskRecord, TaskState
from foredeck.execute.workspace import RunLayout
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.scm.local.client import LocalScm
from foredeck.settings import Settings
from tests.cd.conftest import APP, FILES, MANIFEST, NAME, ORG, set_image
from tests.controller.helpers import Upstream, get_job, make_settings, run_all, spec_config
from tests.db.fixtures import Database
from tests.doubles.github_api import GitHubDouble
from tests.kit.git import Repo

IMAGE = "ghcr.io/acme/app:{n}@sha256:{d}"


class BuildingExecutor:
    """Runs nothing; each task "pushed" `BuildingExecutor.image`, as a build-image task records."""

    name = "builder"
    image = ""
    status: TaskState = "Succeeded"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def run(
        self, run: PipelineRunSpec, out_dir: Path, request: RunRequest, cancel: asyncio.Event
    ) -> RunResult:
        layout = RunLayout(out_dir)
        layout.prepare()
        tasks = {
            t.name: TaskRecord(t.name, t.name, status=self.status, images=[self.image])
            for t in run.pipeline.tasks
        }
        record = RunRecord(layout, "build-run", run.pipeline.name, {}, lambda: tasks)
        record.start(time.time(), request.max_output, engine="builder")
        return record.finish(self.status, {}, engine="builder")  # type: ignore[arg-type]


TARGET = {"repo": f"{ORG}/{NAME}", "paths": ["deploy"], "group": "app", "labels": ["cd"]}


def add_postsubmit(db: Database, up: Upstream, name: str = "build-app") -> int:
    refs = Refs(org="org", repo="repo", base_ref="main", base_sha=up.head("main"))
    config = {"name": name, "agent": "builder", "cd": [TARGET], **spec_config("true")}
    spec = JobCreate(name=name, type="postsubmit", refs=refs, job_config=config, agent="builder")
    with write_lock(db.engine), session_factory(db.engine).begin() as session:
        job, _ = create_job(session, spec)
        return job.id


def placeholder(target: CdTarget, images: Sequence[str]) -> EditFn:
    """Stands in for the bump engine: writes the first image into the manifest."""
    return set_image(images[0])


def controller_for(tmp_path: Path, sqlite_db: Database) -> tuple[Controller, CdRunner, Path]:
    settings = make_settings(tmp_path, sqlite_db)
    root = tmp_path / "repos"
    runner = CdRunner(
        lambda: LocalScm(root, sqlite_db.engine), FileLock(tmp_path / "locks"), placeholder
    )
    executors = Executors.from_settings(settings, {**BUILTIN, "builder": BuildingExecutor})
    return Controller(sqlite_db.engine, settings, executors=executors, cd=runner), runner, root


async def test_two_postsubmits_give_one_bump_pull_request(
    tmp_path: Path, sqlite_db: Database
) -> None:
    controller, runner, root = controller_for(tmp_path, sqlite_db)
    up = Upstream(root)
    manifests = Repo(root / ORG / NAME, FILES, "manifests")
    first, second = IMAGE.format(n=1, d="1" * 64), IMAGE.format(n=2, d="2" * 64)

    BuildingExecutor.image = first
    job1 = add_postsubmit(sqlite_db, up)
    await run_all(controller)
    assert get_job(sqlite_db, job1).state == "success"
    [(key, outcome)] = runner.outcomes
    assert key == f"{ORG}/{NAME}:app" and not isinstance(outcome, str)
    assert outcome.action == "opened"

    up.commit("a fix", {"base.txt": "fixed\n"})
    BuildingExecutor.image = second
    add_postsubmit(sqlite_db, up)
    await run_all(controller)
    [(_, again)] = runner.outcomes
    assert not isinstance(again, str)
    assert (again.action, again.number) == ("updated", outcome.number)

    async with LocalScm(root, sqlite_db.engine) as scm:
        [pull] = await scm.list_open_pulls(ORG, NAME)
    assert pull.number == outcome.number
    assert pull.title == "Bump app: app:2@sha256:222222222222"
    assert f"org/repo `{up.head('main~1')[:12]}..{up.head('main')[:12]}`" in (pull.body or "")
    shown = manifests.git("show", f"{pull.head.sha}:{APP}") + "\n"
    assert shown == MANIFEST.replace("ghcr.io/acme/app:1.0", second)


async def test_by_default_the_controller_bumps_with_the_engine(
    tmp_path: Path, sqlite_db: Database
) -> None:
    """No runner given: the local provider from settings, the database's lock and the bump
    engine (`foredeck.cd`); two builds give one pull request with the second digest, and every
    other byte of the manifest as it was."""
    settings = make_settings(tmp_path, sqlite_db)
    executors = Executors.from_settings(settings, {**BUILTIN, "builder": BuildingExecutor})
    controller = Controller(sqlite_db.engine, settings, executors=executors)
    root = tmp_path / "repos"
    up = Upstream(root)
    manifests = Repo(root / ORG / NAME, FILES, "manifests")
    for n in (1, 2):
        BuildingExecutor.image = IMAGE.format(n=n, d=str(n) * 64)
        job_id = add_postsubmit(sqlite_db, up)
        await run_all(controller)
        assert get_job(sqlite_db, job_id).state == "success"
        assert controller.cd is not None
        [(_, outcome)] = controller.cd.outcomes
        assert not isinstance(outcome, str), outcome
        assert outcome.action == ("opened", "updated")[n - 1]
    async with LocalScm(root, sqlite_db.engine) as scm:
        [pull] = await scm.list_open_pulls(ORG, NAME)
    pinned = "ghcr.io/acme/app@sha256:" + "2" * 64
    assert f"{APP}:9: ghcr.io/acme/app:1.0 -> {pinned}" in (pull.body or "")
    shown = manifests.git("show", f"{pull.head.sha}:{APP}") + "\n"
    assert shown == MANIFEST.replace("ghcr.io/acme/app:1.0", pinned)


def test_only_a_successful_postsubmit_with_targets_and_images_delivers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "finished.json").write_text('{"metadata": {"images": ["r/app@sha256:1"]}}')
    config = {"cd": [TARGET], **spec_config("true")}
    job = Job(id=1, name="b", type="postsubmit", org="org", repo="repo", job_config=config)
    found = pending_delivery(job, tmp_path, "success", "abc")
    assert found is not None
    assert (found.built.images, found.built.sha, found.targets[0].group) == (
        ["r/app@sha256:1"],
        "abc",
        "app",
    )
    assert pending_delivery(job, tmp_path, "failure", "abc") is None
    job.type = "periodic"
    assert pending_delivery(job, tmp_path, "success", "abc") is None
    job.type, job.job_config = "postsubmit", spec_config("true")
    assert pending_delivery(job, tmp_path, "success", "abc") is None
    job.job_config = config
    (out / "finished.json").write_text('{"metadata": {}}')
    assert pending_delivery(job, tmp_path, "success", "abc") is None


async def test_a_failing_target_does_not_stop_the_others(
    tmp_path: Path, sqlite_db: Database
) -> None:
    root = tmp_path / "repos"
    Repo(root / ORG / NAME, FILES, "manifests")

    def edit_for(target: CdTarget, images: Sequence[str]) -> EditFn:
        if target.group == "broken":

            def broken(root: Path) -> list[str]:
                raise RuntimeError("engine bug")

            return broken
        return set_image(images[0])

    runner = CdRunner(
        lambda: LocalScm(root, sqlite_db.engine), FileLock(tmp_path / "locks"), edit_for
    )
    targets = [
        CdTarget(repo=f"{ORG}/{NAME}", group="broken"),
        CdTarget(repo=f"{ORG}/nowhere", group="app"),
        CdTarget(repo=f"{ORG}/{NAME}", group="app"),
    ]
    built = Built("build-app", "org/repo", "c" * 40, [IMAGE.format(n=5, d="5" * 64)])
    await runner.after_postsubmit(targets, built)
    (k1, broken), (k2, missing), (k3, opened) = runner.outcomes
    assert (k1, broken) == (f"{ORG}/{NAME}:broken", "RuntimeError: engine bug")
    assert k2 == f"{ORG}/nowhere:app" and "manifests repository acme/nowhere" in str(missing)
    assert k3 == f"{ORG}/{NAME}:app" and not isinstance(opened, str)
    assert opened.action == "opened"


async def test_the_github_provider_from_settings_bumps_through_the_double(
    tmp_path: Path, sqlite_db: Database, github_double: GitHubDouble
) -> None:
    """`cd_runner_from_settings` with `scm.provider: github`: two builds, one pull request,
    whose body links the source commits on GitHub's compare page."""
    github_double.add_repo(ORG, NAME)
    github_double.commit_files(ORG, NAME, "main", dict(FILES))
    settings = Settings.model_validate(
        {
            "database_url": sqlite_db.url,
            "github": {"base_url": github_double.url, "token": github_double.token},
        }
    )
    runner = cd_runner_from_settings(settings, sqlite_db.engine, placeholder)
    target = CdTarget(repo=f"{ORG}/{NAME}", group="app", paths=["deploy"], labels=["cd"])
    first, second = IMAGE.format(n=1, d="1" * 64), IMAGE.format(n=2, d="2" * 64)
    await runner.after_postsubmit([target], Built("build-app", "org/repo", "a" * 40, [first]))
    await runner.after_postsubmit([target], Built("build-app", "org/repo", "b" * 40, [second]))
    [(_, outcome)] = runner.outcomes
    assert not isinstance(outcome, str) and outcome.action == "updated"
    [issue] = [i for i in github_double.repo(ORG, NAME).issues.values() if i.pull]
    assert issue.title == "Bump app: app:2@sha256:222222222222" and issue.labels == ["cd"]
    compare = f"https://github.com/org/repo/compare/{'a' * 40}...{'b' * 40}"
    assert f"[{'a' * 12}..{'b' * 12}]({compare})" in (issue.body or "")
    manifest = github_double.files_at(ORG, NAME, "foredeck/bump/app")[APP].decode()
    assert manifest == MANIFEST.replace("ghcr.io/acme/app:1.0", second)
