"""Continuous delivery after a postsubmit: what it built, and the bump of its `cd:` targets.

`pending_delivery` reads, once the job is published, whether there is anything to deliver: a
successful postsubmit with `cd:` targets whose run recorded pushed images. The controller runs
it (`CdRunner.after_postsubmit`) after the job's final state is recorded; the runner is made on
first use (`cd_runner_from_settings`), so a controller that never delivers never reads SCM
credentials. See docs/cd.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from foredeck.cd_pr.lock import lock_for
from foredeck.cd_pr.wiring import Built, CdRunner, EditFor, engine_edit
from foredeck.config.cd import CdTarget
from foredeck.config.models import Postsubmit
from foredeck.controller import artifacts
from foredeck.controller.workspace import OUT
from foredeck.db.models import Job
from foredeck.jobs import JobSetupError, job_model
from foredeck.scm.providers import provider_from_settings
from foredeck.settings import Settings


@dataclass(frozen=True, slots=True)
class Delivery:
    targets: list[CdTarget]
    built: Built


def pending_delivery(job: Job, workspace: Path, state: str, final_sha: str) -> Delivery | None:
    """The `cd:` targets and images of a successful postsubmit, or None: nothing to deliver."""
    if job.type != "postsubmit" or state != "success":
        return None
    try:
        model = job_model(job)
    except JobSetupError:
        return None
    if not isinstance(model, Postsubmit) or not model.cd:
        return None
    images = artifacts.pushed_images(workspace / OUT)
    if not images:
        return None
    sha = final_sha or job.base_sha or ""
    built = Built(model.name, f"{job.org}/{job.repo}", sha, images, job.build_id or "")
    return Delivery(list(model.cd), built)


def cd_runner_from_settings(
    settings: Settings, engine: Engine, edit_for: EditFor | None = None
) -> CdRunner:
    """The configured SCM's client, the lock of this database, and the bump engine's edit
    (`edit_for`, default `engine_edit`)."""
    provider = provider_from_settings(settings, engine)
    repo_link = provider.links.repo

    def range_url(repo: str, old: str, new: str) -> str | None:
        if provider.kind != "github":
            return None  # the local provider's dashboard has no compare page
        org, _, name = repo.partition("/")
        return f"{repo_link(org, name)}/compare/{old}...{new}"

    return CdRunner(
        provider.client_factory(),
        lock_for(engine),
        edit_for or engine_edit,
        range_url,
    )
