"""Step logs of a remote run: `read_namespaced_pod_log(follow=True)` per step container.

Each started step container gets one follower thread that reads the log as it is written and
hands the chunks to the runner's event loop, which writes them with the local executor's
`TaskLogger`, so `build-log.txt` and `tasks/<task>/log.txt` look the same as a local run's.
A container is followed once: a follow stream ends when the container exits. `PodLogs` keeps
the followers of one run: it starts one for each step container that has started, and at the
end waits a grace period for the streams to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s

from foredeck.execute.kube.engine import Engine, PodStep
from foredeck.execute.logs import BuildLog, LogIndex, StepOutput, TaskLogger
from foredeck.execute.runstate import TaskRecord
from foredeck.execute.workspace import RunLayout

MAX_STEP_LOG_BYTES = 64 * 1024 * 1024  # a step printing more is cut (limitBytes)
CHUNK = 64 * 1024

OnChunk = Callable[[PodStep, bytes], None]
OnEnd = Callable[[PodStep, BaseException | None], None]
Post = Callable[..., None]
"""Calls a function in the run's event loop from another thread."""


class LogFollower:
    """Reads one step container's log to its end in a daemon thread."""

    def __init__(
        self,
        api: k8s.CoreV1Api,
        namespace: str,
        step: PodStep,
        on_chunk: OnChunk,
        on_end: OnEnd,
        *,
        read_timeout: float = 600.0,
    ) -> None:
        self.step = step
        self._api = api
        self._namespace = namespace
        self._on_chunk = on_chunk
        self._on_end = on_end
        self._read_timeout = read_timeout
        self._response: Any = None
        self._stopped = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(
            target=self._run, name=f"log-{step.pod}-{step.container}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # best effort: the read timeout ends it too
                response.shutdown()

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            response: Any = self._api.read_namespaced_pod_log(
                self.step.pod,
                self._namespace,
                container=self.step.container,
                follow=True,
                limit_bytes=MAX_STEP_LOG_BYTES,
                _preload_content=False,
                _request_timeout=(10.0, self._read_timeout),
            )
            with self._lock:
                if self._stopped:
                    response.release_conn()
                    return
                self._response = response
            try:
                for chunk in response.stream(CHUNK, decode_content=False):
                    if chunk:
                        self._on_chunk(self.step, bytes(chunk))
            finally:
                response.release_conn()
        except Exception as exc:  # reported in the task's log by the runner
            error = exc
        with self._lock:
            stopped = self._stopped
        self._on_end(self.step, None if stopped else error)


class PodLogs:
    """The step logs of one remote run, written in its event loop like a local run's."""

    def __init__(
        self,
        core: k8s.CoreV1Api,
        namespace: str,
        layout: RunLayout,
        records: dict[str, TaskRecord],
        post: Post,
        *,
        read_timeout: float,
    ) -> None:
        self.core = core
        self.namespace = namespace
        self.layout = layout
        self.records = records
        self.post = post
        self.read_timeout = read_timeout
        self.build_log: BuildLog | None = None
        self.loggers: dict[str, TaskLogger] = {}
        self.task_logs: dict[str, LogIndex] = {}
        self.outputs: dict[PodStep, StepOutput] = {}
        self.followers: dict[PodStep, LogFollower] = {}
        self.pending = 0
        self.done = asyncio.Event()

    def follow(self, engine: Engine, pods: list[dict[str, Any]]) -> None:
        """Start a follower for every step container of `pods` that has started."""
        for pod in pods:
            for step in engine.pod_steps(pod):
                if step in self.followers:
                    continue
                logger = self._logger(step.task)
                logger.message(f"step {step.step}: log of pod {step.pod}")
                self.outputs[step] = logger.step_output(step.step)
                follower = LogFollower(
                    self.core,
                    self.namespace,
                    step,
                    lambda s, chunk: self.post(self._chunk, s, chunk),
                    lambda s, exc: self.post(self._ended, s, exc),
                    read_timeout=self.read_timeout,
                )
                self.followers[step] = follower
                self.pending += 1
                self.done.clear()
                follower.start()

    async def wait(self, grace: float) -> int:
        """Wait up to `grace` seconds for the streams to end; the number still open."""
        if self.pending == 0:
            return 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), grace)
        return self.pending

    def stop(self) -> None:
        for follower in self.followers.values():
            follower.stop()

    def close(self) -> None:
        """Close the task logs; a task whose log stayed empty records none."""
        for task, log in self.task_logs.items():
            log.close()
            if not log.created:
                self.records[task].log = None

    def _logger(self, task: str) -> TaskLogger:
        logger = self.loggers.get(task)
        if logger is None:
            assert self.build_log is not None
            dname = self.layout.task_dir_name(task)
            log = self.layout.task_log(dname)
            self.task_logs[task] = log
            self.records[task].log = self.layout.task_log_rel(dname)
            logger = self.loggers[task] = TaskLogger(task, log, self.build_log)
        return logger

    def _chunk(self, step: PodStep, chunk: bytes) -> None:
        self.outputs[step].feed(chunk)

    def _ended(self, step: PodStep, error: BaseException | None) -> None:
        self.outputs[step].flush()
        if error is not None:
            self.loggers[step.task].message(f"log of step {step.step} cut: {error!r}")
        self.pending -= 1
        if self.pending == 0:
            self.done.set()
