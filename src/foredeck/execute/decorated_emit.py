"""`foredeck run --emit argo|tekton --decorate`: a manifest to apply by hand that tests a repo.

It is decorated as the controller decorates a job's run on a cluster (`kube/decorate.py`, the
same code): each pod checks out `--repo` at `--ref` first (`foredeck util clonerefs` in the
utility image), its steps get Prow's variables and `$ARTIFACTS`, and start in the checkout;
with `--upload URL` (`s3://` or `gs://`) each task's `$ARTIFACTS` is uploaded to
`URL/artifacts/<task>/`, where the controller puts them below a build's directory.

The variables are those of a postsubmit (a base ref, no pull): `JOB_TYPE=postsubmit`,
`JOB_NAME` the run's name, `BUILD_ID` the time of emission, `PROW_JOB_ID` a random UUID, so
every manifest emitted is one build (applying the same file twice gives two runs with the
same ids). The clone URL is GitHub's unless `--clone-uri` gives another.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from foredeck.pipeline.model import PipelineRunSpec
from foredeck.types import Refs

_ORG_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


class DecorateError(ValueError):
    """The decoration options are incomplete or malformed (one line)."""


@dataclass(frozen=True)
class HandDecoration:
    """What `--decorate` was given: the repository, its ref, where artifacts go."""

    repo: str
    """`ORG/REPO`."""
    ref: str
    clone_uri: str | None = None
    upload: str | None = None
    utility_image: str | None = None

    def refs(self) -> Refs:
        if not _ORG_REPO.fullmatch(self.repo):
            raise DecorateError(f"--repo {self.repo!r}: expected ORG/REPO")
        if not self.ref:
            raise DecorateError("--decorate needs --ref REF (the branch, tag or commit to test)")
        org, repo = self.repo.split("/")
        return Refs(org=org, repo=repo, base_ref=self.ref)


def prow_env(refs: Refs, job: str, build_id: str, prow_job_id: str) -> dict[str, str]:
    """Prow's variables of a postsubmit of `refs` (see `controller/env.py` for a job's)."""
    spec = {
        "type": "postsubmit",
        "job": job,
        "buildid": build_id,
        "prowjobid": prow_job_id,
        "refs": refs.to_prow_json(),
    }
    return {
        "CI": "true",
        "JOB_NAME": job,
        "JOB_TYPE": "postsubmit",
        "JOB_SPEC": json.dumps(spec, separators=(",", ":")),
        "BUILD_ID": build_id,
        "BUILD_NUMBER": build_id,
        "PROW_JOB_ID": prow_job_id,
        "REPO_OWNER": refs.org,
        "REPO_NAME": refs.repo,
        "PULL_BASE_REF": refs.base_ref,
        "PULL_BASE_SHA": refs.base_sha,
        "PULL_REFS": refs.base_ref,
    }


def decorated_manifest(
    run: PipelineRunSpec, engine: Literal["argo", "tekton"], options: HandDecoration
) -> tuple[dict[str, Any], str | None]:
    """The emitted manifest, decorated; and why nothing is uploaded (None: it is)."""
    from foredeck.execute.kube.decorate import (
        DEFAULT_UTILITY_IMAGE,
        Decoration,
        UploadTarget,
        decorate,
        pod_refs,
        pod_workdir,
        upload_target,
    )
    from foredeck.pipeline.emit import manifest

    refs = options.refs()
    uri = options.clone_uri or f"https://github.com/{refs.org}/{refs.repo}.git"
    target: UploadTarget | None = None
    why: str | None = "no artifact upload: --upload s3://... or gs://... was not given"
    if options.upload:
        target, why = upload_target(options.upload, "")
        if target is None:
            raise DecorateError(f"--upload: {why}")
    job = run.name.rstrip("-.") or run.pipeline.name
    build_id = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    decoration = Decoration(
        env=prow_env(refs, job, build_id, str(uuid.uuid4())),
        refs=pod_refs([refs], [uri]),
        workdir=pod_workdir(refs),
        utility_image=options.utility_image or DEFAULT_UTILITY_IMAGE,
        upload=target,
        no_upload_reason=why,
    )
    return decorate(engine, manifest(run, engine), run, decoration), why
