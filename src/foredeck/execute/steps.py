"""One attempt's steps as processes: argv, environment, working directory, confinement.

A step with an image runs in it when the run uses containers (`containers.py`); any other step
is a host process. A `script` is written to a file and run by its shebang's interpreter (else
`sh -e`); `command` and `args` are run directly, never through a shell. On the host the default
working directory is the workspace root, `workingDir` is relative to it and `/workspace/...`
maps onto it. In a sandbox only what the run owns is writable; an unsandboxed step gets the
run's marker in `FOREDECK_RUN`, by which the processes it leaves are found (`orphans.py`). Each
step has the earliest of its own timeout, its attempt's and its phase's deadline.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from foredeck.execute import lookups
from foredeck.execute.capture import StepCapture
from foredeck.execute.containers import Containers, host_helper_view
from foredeck.execute.launch import Launch
from foredeck.execute.logs import TaskLogger
from foredeck.execute.orphans import MARKER
from foredeck.execute.pod_files import PodFiles, helper_paths, pod_files
from foredeck.execute.process import ProcessGroups, ProcessOutcome, run_process
from foredeck.execute.sandbox import Sandbox
from foredeck.execute.scheduler import earliest
from foredeck.execute.served import Served
from foredeck.execute.sidecars import Sidecars
from foredeck.execute.step_files import open_output, record_exit_code, shebang
from foredeck.execute.workspace import RunLayout
from foredeck.pipeline.expressions import Lookup, SubstitutionError
from foredeck.pipeline.model import Step, TaskStatus, needs_entrypoint

_MARKER_KEY = MARKER.encode()

StepOutcome = tuple[TaskStatus, str, bool]
"""(status, reason, whether a retry may help) of an attempt that did not succeed."""


@dataclass(frozen=True)
class Attempt:
    """What every step of one task attempt shares."""

    lookup: Lookup
    env: dict[bytes, bytes]  # the attempt's base environment, encoded
    artifacts: str  # the task's $ARTIFACTS
    results: Path | None  # its results directory, when it declares results
    logger: TaskLogger
    stop: asyncio.Future[None]  # the phase's stop signal (cancel)
    steps_dir: Path | None = None  # exit codes (`$(steps.step-X.exitCode.path)`), when used
    capture: StepCapture | None = None  # stdout and exit codes kept as results
    pod_tmp: Path | None = None  # the `/tmp` every step shares (in a sandbox or a container)
    workspaces: Mapping[str, Path | None] = field(default_factory=dict)  # the task's, bound
    pod: PodFiles | None = None  # Argo files of a main step in a container (`pod_files.py`)
    served: Served | None = None  # an Argo daemon's: where it serves (`served.py`)


def _close(streams: list[BinaryIO | None]) -> None:
    for stream in streams:
        if stream is not None:
            stream.close()


class StepRunner:
    """Runs the steps of task attempts for one run (see the module docstring)."""

    def __init__(
        self,
        layout: RunLayout,
        sandbox: Sandbox,
        *,
        shell: str,
        kill_grace: float,
        marker: str,
        groups: ProcessGroups,
        containers: Containers | None = None,
    ) -> None:
        self.layout = layout
        self.sandbox = sandbox
        self.shell = shell
        self.kill_grace = kill_grace
        self.marker = marker
        self.groups = groups
        self.containers = containers
        self._steps_started = 0

    async def run(
        self,
        steps: list[Step],
        attempt: Attempt,
        attempt_deadline: float | None,
        phase_deadline: float | None,
        sidecars: list[Step] | None = None,
    ) -> StepOutcome | None:
        """Run `steps` in order until one does not succeed: its outcome, or None (all did).
        `sidecars` run beside them (`sidecars.py`).

        In a sandbox or in containers the steps of one attempt share one `/tmp`, as a pod's
        containers see what the main container wrote there (Argo's executor reads outputs from
        it); it is removed with the attempt."""
        containers = self.containers
        shared = self.sandbox.bwrap is not None or (
            containers is not None
            and await containers.any_wanted([*steps, *(sidecars or [])], attempt.lookup)
        )
        if shared and attempt.pod_tmp is None:
            pod_tmp = Path(tempfile.mkdtemp(prefix="pod-", dir=self.layout.tmp))
            pod_tmp.chmod(0o1777)  # as /tmp: a step run as another user writes there
            attempt = replace(attempt, pod_tmp=pod_tmp)
        if containers is not None and shared:
            attempt = replace(attempt, pod=await _pod(containers, steps, attempt.lookup))
        try:
            if not sidecars:
                return await self._steps(steps, attempt, attempt_deadline, phase_deadline)
            group = Sidecars(self, attempt)
            try:
                until = min(
                    (d for d in (attempt_deadline, phase_deadline) if d is not None), default=None
                )
                failed = await group.start(sidecars, until)
                if failed is not None:
                    return failed
                return await self._steps(steps, attempt, attempt_deadline, phase_deadline)
            finally:
                await group.stop()
        finally:
            if attempt.pod_tmp is not None:
                shutil.rmtree(attempt.pod_tmp, ignore_errors=True)

    async def _steps(
        self,
        steps: list[Step],
        attempt: Attempt,
        attempt_deadline: float | None,
        phase_deadline: float | None,
    ) -> StepOutcome | None:
        loop = asyncio.get_running_loop()
        for step in steps:
            if attempt.stop.done():
                return "Cancelled", "cancelled", False
            deadline: float | None = None
            which = ""
            if step.timeout or attempt_deadline is not None or phase_deadline is not None:
                deadline, which = earliest(
                    [
                        (loop.time() + step.timeout if step.timeout else None, "step"),
                        (attempt_deadline, "task"),
                        (phase_deadline, "pipeline"),
                    ]
                )
            if deadline is not None and deadline <= loop.time():
                message = f"{which} timeout expired before step {step.name!r}"
                attempt.logger.message(message)
                return "TimedOut", message, which != "pipeline"
            outcome, code = await self._step(step, attempt, deadline, which)
            if code is not None and attempt.steps_dir is not None:
                record_exit_code(attempt.steps_dir, step.name, code)
            if outcome is None:
                continue
            on_error = _on_error(step, attempt.lookup) if code is not None else "stopAndFail"
            if on_error == "continue":
                # Tekton's onError: continue: the failure is recorded, the task goes on.
                attempt.logger.message(f"step {step.name!r}: onError continue, carrying on")
                continue
            if on_error != "stopAndFail":
                message = f"step {step.name!r}: onError {on_error!r} is not continue or stopAndFail"
                attempt.logger.message(message)
                return "Failed", message, False
            return outcome
        return None

    async def _step(
        self, step: Step, attempt: Attempt, deadline: float | None, which: str
    ) -> tuple[StepOutcome | None, int | None]:
        """The step's outcome (None: it succeeded) and its exit code, if it ran to its end."""
        logger = attempt.logger
        streams: list[BinaryIO | None] = []
        try:
            launch = await self.launch(step, attempt)
            for path in launch.outputs:
                streams.append(open_output(path, launch.outputs_cwd, self.layout) if path else None)
        except (SubstitutionError, ValueError, OSError) as exc:
            _close(streams)
            message = f"step {step.name!r}: {exc}"
            logger.message(message)
            return ("Failed", message, False), None
        output = logger.step_output(step.name)
        capture = attempt.capture
        keep = None if capture is None else capture.stdout_sink(step.name)
        try:
            outcome = await self.execute(
                launch,
                sink=output.feed,
                cancel=attempt.stop,
                deadline=deadline,
                stdout_sink=_both(None if streams[0] is None else streams[0].write, keep),
                stderr_sink=None if streams[1] is None else streams[1].write,
            )
        except OSError as exc:
            output.flush()
            message = f"step {step.name!r} could not start {launch.argv[0]!r}: {exc.strerror}"
            logger.message(message)
            return ("Failed", message, True), None
        finally:
            _close(streams)
        output.flush()
        if capture is not None:
            capture.exited(step.name, outcome.returncode)
        return self._outcome(step, outcome, logger, which), (
            outcome.returncode if outcome.stopped is None else None
        )

    async def launch(self, step: Step, attempt: Attempt) -> Launch:
        """How `step` (or a sidecar) starts: in its image, or as a host process (sandboxed).
        Raises SubstitutionError, ValueError or OSError for a step that cannot start."""
        containers = self.containers
        if containers is not None and await containers.wanted(step, attempt.lookup):
            launch = containers.launch(step, attempt, self.layout)
            if attempt.served is not None:
                attempt.served.started = True
            return launch
        if attempt.served is not None:
            attempt.served.started = True
        step = helper_paths(step, attempt.pod)
        if attempt.pod_tmp is not None and self.sandbox.bwrap is None:
            step = host_helper_view(step, attempt.pod_tmp)
        argv, cwd, env = self._prepare(step, attempt.lookup, attempt.env)
        argv = self._confine(argv, cwd, attempt.artifacts, attempt.results, attempt.pod_tmp)
        outputs = [
            None if path is None else lookups.text(path, attempt.lookup) or None
            for path in (step.stdout_path, step.stderr_path)
        ]
        marker = self._step_marker()
        if marker is not None:
            env = {**env, _MARKER_KEY: marker.encode()}
        return Launch(argv, cwd, env, (outputs[0], outputs[1]), cwd, marker)

    async def execute(
        self,
        launch: Launch,
        *,
        sink: Callable[[bytes], None],
        cancel: asyncio.Future[None],
        deadline: float | None = None,
        stdout_sink: Callable[[bytes], object] | None = None,
        stderr_sink: Callable[[bytes], object] | None = None,
    ) -> ProcessOutcome:
        """Run a launched step to its end (`process.run_process`). A container is removed
        when its podman client did not see it end (the client's death does not stop it), and
        a kept one after its outputs are copied (`Containers.ended`)."""
        ended, started = False, True
        try:
            outcome = await run_process(
                launch.argv,
                cwd=launch.cwd,
                env=launch.env,
                sink=sink,
                groups=self.groups,
                deadline=deadline,
                cancel=cancel,
                grace=self.kill_grace,
                marker=launch.marker,
                stdout_sink=stdout_sink,
                stderr_sink=stderr_sink,
            )
            ended = outcome.stopped is None and outcome.returncode >= 0
            return outcome
        except OSError:
            ended = started = False  # podman did not start: there is no container
            raise
        finally:
            if launch.container is not None and self.containers is not None:
                await self.containers.ended(launch.container, ran=ended, started=started)

    def _outcome(
        self, step: Step, outcome: ProcessOutcome, logger: TaskLogger, which: str
    ) -> StepOutcome | None:
        if outcome.leftovers:
            logger.message(f"step {step.name!r}: killed {outcome.leftovers} processes it left")
        return judge(outcome, logger, which, f"step {step.name!r}")

    def _step_marker(self) -> str | None:
        """`<run marker>/<n>` for an unsandboxed step (bubblewrap's PID namespace needs none)."""
        if self.sandbox.bwrap is not None:
            return None
        self._steps_started += 1
        return f"{self.marker}/{self._steps_started}"

    def _prepare(
        self, step: Step, lookup: Lookup, env: dict[bytes, bytes]
    ) -> tuple[list[str], str, dict[bytes, bytes]]:
        args = lookups.args(step.args, lookup)
        if step.script is not None:
            script = lookups.text(step.script, lookup)
            path = self.layout.script(script)
            interpreter = shebang(script)
            argv = [*(interpreter or [self.shell, "-e"]), path, *args]
        else:
            command = lookups.args(step.command, lookup)
            if not command:
                raise ValueError(needs_entrypoint(step, self._why_host(step)))
            argv = [*command, *args]
        if step.env:
            overrides = {k: lookups.text(v, lookup) for k, v in step.env.items()}
            env = {**env, **{os.fsencode(k): os.fsencode(v) for k, v in overrides.items()}}
        if not step.working_dir:
            return argv, self.layout.workspaces_str, env
        directory = lookups.text(step.working_dir, lookup)
        # Tekton mounts workspaces under /workspace: map that prefix to the run's root.
        if directory == "/workspace" or directory.startswith("/workspace/"):
            directory = self.layout.workspaces_str + directory[len("/workspace") :]
        cwd = self.layout.workspaces / directory
        self.sandbox.make_dirs(cwd)
        return argv, str(cwd), env

    def _why_host(self, step: Step) -> str:
        """Why a step that needs its image's entrypoint is on the host (for its error)."""
        if self.containers is None or not self.containers.config.uses_podman:
            return "this run uses the host runtime"
        if not step.image:
            return "it names no image"
        return "its image is not available to podman (see the run log)"

    def _confine(
        self,
        argv: list[str],
        cwd: str,
        artifacts: str,
        results: Path | None,
        pod_tmp: Path | None = None,
    ) -> list[str]:
        """The step's argv inside the sandbox: what the run owns is writable, no more."""
        if self.sandbox.bwrap is None:
            return argv
        layout = self.layout
        writable = [layout.workspaces_str, str(layout.emptydirs), str(layout.tmp)]
        writable += [str(layout.home), artifacts]
        if results is not None:
            writable.append(str(results))
        return self.sandbox.wrap(
            argv,
            cwd=cwd,
            writable=writable,
            readonly=[str(layout.scripts)],
            tmp=None if pod_tmp is None else str(pod_tmp),
        )


def judge(
    outcome: ProcessOutcome, logger: TaskLogger, which: str, what: str, failed: str | None = None
) -> StepOutcome | None:
    """How a process of `what` (`step 'x'`) ended, logged: None when it succeeded. `which`
    deadline stopped it when it timed out; `failed` names it when it failed (default `what`)."""
    if outcome.stopped == "cancel":
        logger.message(f"{what} stopped: run cancelled")
        return "Cancelled", "cancelled", False
    if outcome.stopped == "deadline":
        message = f"{which} timeout expired during {what}"
        logger.message(message)
        return "TimedOut", message, which != "pipeline"
    if outcome.returncode != 0:
        code = outcome.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        message = f"{failed or what} {how}"
        logger.message(message)
        return "Failed", message, True
    return None


def _on_error(step: Step, lookup: Lookup) -> str:
    """The step's `onError`, its param (`$(params.CONTINUE)`) resolved as the step runs."""
    if "$(" not in step.on_error:
        return step.on_error
    try:
        return lookups.text(step.on_error, lookup)
    except SubstitutionError as exc:
        return str(exc)


async def _pod(containers: Containers, steps: list[Step], lookup: Lookup) -> PodFiles | None:
    """The attempt's Argo files when its main step runs in a container, else None."""
    try:
        pod = pod_files(steps, lookup)
        main = next((s for s in steps if pod is not None and s.name == pod.main), None)
        return pod if main is not None and await containers.wanted(main, lookup) else None
    except SubstitutionError:
        return None


def _both(
    first: Callable[[bytes], object] | None, second: Callable[[bytes], object] | None
) -> Callable[[bytes], object] | None:
    """One sink feeding two (a `stdoutConfig` file, a stdout result), either of them optional."""
    if first is None or second is None:
        return first or second

    def feed(data: bytes) -> None:
        first(data)
        second(data)

    return feed
