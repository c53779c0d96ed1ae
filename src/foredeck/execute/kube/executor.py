"""The `argo` and `tekton` executors: a job's pipeline run on Kubernetes, its pods decorated.

Decoration (`decorate.py`) gives the pods what Prow's pod utilities give a ProwJob's: the
checkout of the job's refs (`foredeck util clonerefs` from `kube.utility_image`), the job's
Prow variables (never the controller's own environment), and the upload of each task's
`$ARTIFACTS` to the build's directory in an `s3://` or `gs://` artifact store. A job's lease
files reach its pods in a Secret of the run (`leases.py`), mounted where a container step finds
them, with the same `FOREDECK_LEASE*` variables. Submission and watching are
`runner.run_remote`, on the cluster of the `kube` settings.

The Kubernetes client (the `kube` extra; boto3 too for EKS, the `eks` extra) is imported only
when a run starts: most installations run everything locally. A missing extra fails the start
of a service whose default agent is this engine, and otherwise each job asking for it, with
one line naming the extra (`foredeck.extras`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from foredeck.execute.executor import ExecutorError, RunRequest, work_dir_refs
from foredeck.execute.kube.decorate import (
    Decoration,
    UploadTarget,
    pod_refs,
    pod_workdir,
    upload_target,
)
from foredeck.execute.kube.leases import LeaseFiles, LeaseFilesError
from foredeck.execute.lease_mount import lease_paths_in_container
from foredeck.execute.runstate import RunResult
from foredeck.extras import MissingExtra, require
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.settings import KubeSettings, Settings

EngineName = Literal["argo", "tekton"]


class KubeExecutor:
    """One engine (`argo` or `tekton`) on the cluster of the `kube` settings."""

    def __init__(self, engine: EngineName, kube: KubeSettings) -> None:
        self.engine = engine
        self.name: str = engine
        self.kube = kube

    async def run(
        self, run: PipelineRunSpec, out_dir: Path, request: RunRequest, cancel: asyncio.Event
    ) -> RunResult:
        try:
            require_libraries(self.engine, self.kube)
        except MissingExtra as exc:
            raise ExecutorError(str(exc)) from None
        # These modules import the Kubernetes client at their top.
        from foredeck.execute.kube.client import KubeConfigError, target_of
        from foredeck.execute.kube.runner import RemoteOptions, RemoteRunError, run_remote

        decoration = self.decoration(request)
        leases: LeaseFiles | None = None
        if request.lease_dir is not None:
            try:
                leases = await asyncio.to_thread(LeaseFiles.read, request.lease_dir)
            except (LeaseFilesError, OSError) as exc:
                raise ExecutorError(f"lease files: {exc}") from None
        target = target_of(self.kube)
        try:
            return await run_remote(
                run,
                out_dir,
                engine=self.engine,
                kube=target,
                job_id=request.job_id,
                cancel=cancel,
                options=RemoteOptions(
                    ui_url=self.kube.ui_url, max_output=request.max_output, censor=request.censor
                ),
                decoration=decoration,
                leases=leases,
                build_id=request.build_id,
            )
        except (KubeConfigError, RemoteRunError) as exc:
            raise ExecutorError(str(exc)) from None

    def decoration(self, request: RunRequest) -> Decoration:
        """What the pods get, as Prow's pod utilities give it: the checkout of the job's refs,
        the Prow env (never the controller's own), and where to upload `$ARTIFACTS`."""
        target: UploadTarget | None = None
        why: str | None
        if request.build_dir is None or request.store is None:
            why = f"no artifact upload: {request.no_build_dir or 'no artifact store'}"
        else:
            target, why = upload_target(request.store().url, request.build_dir)
        refs = list(request.refs)
        env = dict(request.env)
        if request.lease_dir is not None:  # the pods' paths: where the Secret is mounted
            env = lease_paths_in_container(env, str(request.lease_dir))
        return Decoration(
            env=env,
            refs=pod_refs(refs, [one.clone_uri for one in refs]),
            workdir=pod_workdir(work_dir_refs(refs)),
            utility_image=self.kube.utility_image,
            upload=target,
            no_upload_reason=why,
        )


def require_libraries(engine: EngineName, kube: KubeSettings) -> None:
    """Raise `MissingExtra` unless the libraries a run of `engine` on `kube` needs import."""
    require("kube", "kubernetes", f"the {engine} executor")
    if kube.auth == "eks":
        require("eks", "boto3", f"the {engine} executor's EKS authentication")


def _executor(engine: EngineName, settings: Settings) -> KubeExecutor:
    if settings.kube.default_agent == engine:  # every default job runs here: say it at start
        require_libraries(engine, settings.kube)
    return KubeExecutor(engine, settings.kube)


def argo(settings: Settings) -> KubeExecutor:
    return _executor("argo", settings)


def tekton(settings: Settings) -> KubeExecutor:
    return _executor("tekton", settings)
