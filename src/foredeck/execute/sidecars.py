"""A task's sidecars: background processes (or containers) for the length of one attempt.

As in a pod, every sidecar starts before the first step and is stopped once the last step has
ended, whatever ended it: SIGTERM to its process group, then SIGKILL after the run's kill
grace (Argo kills sidecars the same way when the main container exits). A sidecar is
prepared and confined like a step: the same environment, working directory and sandbox, or
its image when the run uses containers (with `--network=host` in `containers.run_args`, the
steps reach its ports on localhost, as in a pod). Its output goes to the task log under
`sidecar:NAME`. A sidecar that cannot start fails the attempt as a step would (one that relies
on its image's entrypoint on the host says it needs a container runtime); one that exits
early is logged, and the steps go on, as Argo leaves the outcome to the main container.

As Tekton's steps wait for the pod's sidecars to be running, the first step starts once every
sidecar's container runs (podman's client returns before it does: pulling and creating take a
while on a busy machine) or its client has ended; a host sidecar runs once it is spawned.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from foredeck.execute.logs import StepOutput
from foredeck.execute.process import ProcessOutcome
from foredeck.pipeline.expressions import SubstitutionError
from foredeck.pipeline.model import Step

if TYPE_CHECKING:
    from foredeck.execute.steps import Attempt, StepOutcome, StepRunner


_POLL = 0.05
"""Seconds between two looks at a sidecar container that does not run yet."""


class Sidecars:
    """The sidecars of one attempt."""

    def __init__(self, runner: StepRunner, attempt: Attempt) -> None:
        self.runner = runner
        self.attempt = attempt
        self.stop_signal: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.running: list[tuple[Step, asyncio.Task[ProcessOutcome], StepOutput, str | None]] = []
        """Each sidecar, its process, its log and its container's name (None on the host)."""

    async def start(self, sidecars: list[Step], until: float | None = None) -> StepOutcome | None:
        """Start every sidecar; the outcome of the attempt if one cannot start. Waiting for
        the containers to run ends at the loop time `until` (the steps' first deadline) or
        when the attempt is stopped: the first step then reports either."""
        runner, attempt = self.runner, self.attempt
        for sidecar in sidecars:
            what = f"sidecar {sidecar.name!r}"
            try:
                launch = await runner.launch(sidecar, attempt)
            except (SubstitutionError, ValueError, OSError) as exc:
                return self._failed(f"{what}: {exc}")
            output = attempt.logger.step_output(f"sidecar:{sidecar.name}")
            task = asyncio.ensure_future(
                runner.execute(launch, sink=output.feed, cancel=self.stop_signal)
            )
            self.running.append((sidecar, task, output, launch.container))
            await asyncio.sleep(0)  # the process is spawned (or failed to be) by now
            if task.done() and task.exception() is not None:
                error = task.exception()
                reason = error.strerror if isinstance(error, OSError) else error
                return self._failed(f"{what} could not start {launch.argv[0]!r}: {reason}")
        await self._running(until)
        if sidecars:
            names = ", ".join(s.name for s in sidecars)
            attempt.logger.message(f"started sidecars {names}")
        return None

    async def _running(self, until: float | None) -> None:
        """Wait until every container sidecar runs, or its podman client has ended."""
        containers, stop = self.runner.containers, self.attempt.stop
        loop = asyncio.get_running_loop()
        for _sidecar, task, _output, name in self.running:
            if containers is None or name is None:
                continue
            while not task.done() and not await containers.running(name):
                if stop.done() or (until is not None and loop.time() >= until):
                    return
                watched: list[asyncio.Future[Any]] = [task, stop]
                await asyncio.wait(watched, timeout=_POLL, return_when=asyncio.FIRST_COMPLETED)

    def _failed(self, message: str) -> StepOutcome:
        self.attempt.logger.message(message)
        return "Failed", message, False

    async def stop(self) -> None:
        """Stop what still runs (SIGTERM, then SIGKILL) and say how each sidecar ended."""
        if not self.stop_signal.done():
            self.stop_signal.set_result(None)
        for sidecar, task, output, _name in self.running:
            try:
                outcome = await task
            except OSError:
                continue  # reported by `start`
            finally:
                output.flush()
            if outcome.stopped is None:
                how = f"had exited with code {outcome.returncode} before the steps ended"
                self.attempt.logger.message(f"sidecar {sidecar.name!r} {how}")
        self.running = []
