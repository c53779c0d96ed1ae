"""The executor interface: what runs a job's pipeline, wherever it runs.

The controller claims a job, checks it out, builds its pipeline, and then hands it to an
`Executor` with a `RunRequest`; it never knows whether the steps ran as processes on this host,
as pods of an Argo Workflow, or something else. Each executor writes Prow's layout into
`out_dir` (`started.json`, `build-log.txt`, `pipeline-run.json`, `finished.json`, task logs) and
returns a `RunResult`, so publishing and the job's final state are the same for all of them.

Executors are chosen by the job's agent through the registry of `executors.py`: each agent name
maps to a factory `(Settings) -> Executor` called once, when the controller is built. A new
runtime is a new module and one entry there, never an edit of the controller. For example a
container runtime:

```python
# execute/podman.py
class PodmanExecutor:
    name = "podman"

    def __init__(self, settings: Settings) -> None:
        self.binary = shutil.which("podman") or "podman"

    async def run(self, run, out_dir, request, cancel) -> RunResult:
        ...  # one container per step, the checkout (request.checkout) mounted,
        ...  # request.env as the Prow variables, request.grace to stop, Prow files in out_dir


# execute/executors.py
BUILTIN = {"local": ..., "argo": ..., "tekton": ..., "podman": PodmanExecutor}
```

and jobs with `agent: podman` run there (tests register fakes the same way:
`Executors.from_settings(settings, {**BUILTIN, "fake": FakeExecutor})`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from foredeck.censor import NO_CENSOR, Censor
from foredeck.execute.logs import OutputLimit
from foredeck.execute.runstate import RunResult
from foredeck.pipeline.model import PipelineRunSpec
from foredeck.settings import Settings
from foredeck.storage.store import ArtifactStore
from foredeck.types import Refs


class ExecutorError(Exception):
    """The executor could not run the pipeline (invalid input, a cluster that cannot be reached
    or refuses the run): the job ends `error` with this text."""


@dataclass(frozen=True)
class RunRequest:
    """What a run needs from the controller, whichever executor runs it.

    `env` is the job's Prow variables (`JOB_NAME`, `JOB_SPEC`, `PULL_NUMBER`, ...), never the
    server's environment: an executor adds what its steps need of the host, if anything.
    """

    job_id: int
    build_id: str
    env: Mapping[str, str]
    refs: Sequence[Refs] = ()
    """The job's refs then its extra refs, each with its `clone_uri` resolved (executors that
    check out themselves use them; `work_dir_refs(refs)` is the main one)."""
    checkout: Path | None = None
    """The controller's checkout of the refs on this host (steps on the host may write it)."""
    workdir: Path | None = None
    """Prow's work dir inside `checkout`: where host steps that name no `workingDir` run."""
    grace: float = 3.0
    """Seconds between asking a stopped step to end (SIGTERM) and killing it."""
    marker: str | None = None
    """`<owner>/<run>`: starts the `FOREDECK_RUN` of unsandboxed host steps (`orphans.py`)."""
    max_output: OutputLimit | None = None
    """The step output the build log keeps at most."""
    censor: Censor = NO_CENSOR
    """Masks the job's secrets in everything the run writes (`foredeck.censor`)."""
    build_dir: str | None = None
    """The build's directory in the artifact store (None: it has none, `no_build_dir` why)."""
    no_build_dir: str = ""
    store: Callable[[], ArtifactStore] | None = None
    """The artifact store, opened on first use (remote steps upload `$ARTIFACTS` there)."""
    lease_dir: Path | None = None
    """The files of the job's leases (`$FOREDECK_LEASES`): host steps may read them."""


def work_dir_refs(refs: Sequence[Refs]) -> Refs | None:
    """Prow's `DetermineWorkDir`: the first refs marked `workdir`, else the first refs."""
    if not refs:
        return None
    return next((r for r in refs if r.workdir), refs[0])


class Executor(Protocol):
    """Runs a pipeline for a job; one instance serves every job of its agent, concurrently."""

    name: str
    """The agent it runs: `local`, `argo`, `tekton`, ..."""

    async def run(
        self, run: PipelineRunSpec, out_dir: Path, request: RunRequest, cancel: asyncio.Event
    ) -> RunResult:
        """Run `run`, writing Prow's layout under `out_dir`; the result whatever the tasks did.

        Setting `cancel` stops the run gracefully (steps stopped, finally tasks run, the result
        `Cancelled`); cancelling the coroutine stops it at once, after the files are written.
        Raises `ExecutorError` when the run could not happen at all.
        """
        ...


ExecutorFactory = Callable[[Settings], Executor]
"""Builds an executor from settings, once per controller: cheap, and raising (e.g.
`SandboxError`) when the executor cannot work here, which stops the controller's start."""
