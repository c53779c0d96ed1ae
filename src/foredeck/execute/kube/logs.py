"""Step logs of a remote run: `read_namespaced_pod_log(follow=True)` per step container.

Each started step container gets one follower thread that reads the log as it is written and
hands the chunks to the runner's event loop, which writes them with the local executor's
`TaskLogger`, so `build-log.txt` and `tasks/<task>/log.txt` look the same as a local run's.
A container is followed once: a follow stream ends when the container exits.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s

from foredeck.execute.kube.engine import PodStep

MAX_STEP_LOG_BYTES = 64 * 1024 * 1024  # a step printing more is cut (limitBytes)
CHUNK = 64 * 1024

OnChunk = Callable[[PodStep, bytes], None]
OnEnd = Callable[[PodStep, BaseException | None], None]


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
