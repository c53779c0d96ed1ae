"""The files every executor writes the same way, so a run reads alike wherever it ran.

`started.json` first; the executor's own lines in `build-log.txt` (`<time> [foredeck] ...`);
`pipeline-run.json` while the run goes (at most once per `SNAPSHOT_SECONDS`, atomically) and at
its end; `finished.json` last; and the `on_event` progress callbacks, whose failure is noted in
the build log once and never stops the run. The local executor (`local.py`) and the Kubernetes
runner (`kube/runner.py`) differ in how tasks run, not in what they record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from foredeck.censor import NO_CENSOR, Censor
from foredeck.execute import job_metadata
from foredeck.execute.logs import BuildLog, OutputLimit, timestamp
from foredeck.execute.runstate import EventKind, RunEvent, RunResult, TaskRecord, run_json
from foredeck.execute.workspace import RunLayout
from foredeck.pipeline.model import ParamValue, RunStatus
from foredeck.storage import prow

SNAPSHOT_SECONDS = 1.0
"""`pipeline-run.json` is rewritten at most this often while the run goes."""

EventCallback = Callable[[RunEvent], None]


class RunRecord:
    """One run's Prow files and progress events (see the module docstring).

    `tasks` returns the task table in the order `pipeline-run.json` lists it; `run_fields` are
    added to every `pipeline-run.json` (the engine and UI link of a remote run).
    """

    def __init__(
        self,
        layout: RunLayout,
        name: str,
        pipeline: str,
        params: dict[str, ParamValue],
        tasks: Callable[[], dict[str, TaskRecord]],
        on_event: EventCallback | None = None,
        run_fields: Mapping[str, Any] | None = None,
    ) -> None:
        self.layout = layout
        self.name = name
        self.pipeline = pipeline
        self.params = params
        self.tasks = tasks
        self.on_event = on_event
        self.run_fields = dict(run_fields or {})
        self.started = 0.0
        self.build_log: BuildLog | None = None
        self.censor = NO_CENSOR
        self._last_snapshot = 0.0
        self._callback_failed = False

    def start(
        self,
        started: float,
        max_output: OutputLimit | None,
        censor: Censor = NO_CENSOR,
        **metadata: Any,
    ) -> BuildLog:
        """Write `started.json` (`metadata` beside pipeline, run and params), open the log;
        `censor` masks secrets in all the files of the run."""
        self.started = started
        self.censor = censor
        fields = {"pipeline": self.pipeline, "run": self.name, "params": self.params, **metadata}
        prow.write_started(self.layout.out_dir, started, censor.data(fields))
        self.build_log = BuildLog(self.layout.build_log, max_output, censor)
        return self.build_log

    def log(self, text: str) -> None:
        """A line of the executor's own in the build log (never cut by the output limit)."""
        if self.build_log is not None:
            said = self.censor.text(text).encode(errors="replace")
            line = b"%s [foredeck] %s\n" % (timestamp(), said)
            self.build_log.write(line)

    def emit(
        self,
        kind: EventKind,
        task: str | None = None,
        status: str | None = None,
        attempt: int = 0,
        reason: str = "",
        at: float | None = None,
    ) -> None:
        if self.on_event is None:
            return
        event = RunEvent(kind, self.name, task, status, attempt, reason, at or time.time())
        try:
            self.on_event(event)
        except Exception as exc:  # a broken progress display must not break the run
            if not self._callback_failed:
                self._callback_failed = True
                self.log(f"on_event callback failed: {exc!r}")

    def snapshot(self, *, force: bool = False) -> None:
        """`pipeline-run.json` with status Running (throttled unless `force`)."""
        now = time.monotonic()
        if not force and now - self._last_snapshot < SNAPSHOT_SECONDS:
            return
        self._last_snapshot = now
        data = run_json(
            name=self.name,
            pipeline=self.pipeline,
            status="Running",
            params=self.params,
            results={},
            tasks=self.tasks(),
            started=self.started,
            finished=None,
        )
        data.update(self.run_fields)
        prow.write_json_atomic(self.layout.run_json, self.censor.data(data), indent=None)

    def finish(
        self,
        status: RunStatus,
        results: dict[str, ParamValue],
        *,
        note: str = "",
        error: str | None = None,
        **metadata: Any,
    ) -> RunResult:
        """The final `pipeline-run.json`, the closing log lines, `finished.json`, the
        `run-finished` event; the build log is closed. `note` follows the status in the log."""
        finished = time.time()
        result = RunResult(
            name=self.name,
            pipeline=self.pipeline,
            out_dir=self.layout.out_dir,
            status=status,
            tasks=self.tasks(),
            results=results,
            params=self.params,
            started=self.started,
            finished=finished,
        )
        data = result.to_json()
        data.update(self.run_fields)
        prow.write_json_atomic(self.layout.run_json, self.censor.data(data), indent=None)
        self.log(f"run {self.name}: {status}{note} in {finished - self.started:.2f}s")
        if error is not None:
            self.log(f"error: {error}")
        declared, problems = job_metadata.read_run(self.layout.artifacts)
        for problem in problems:
            self.log(problem)
        declared = self.censor.data(declared)
        images = [image for task in result.tasks.values() for image in task.images]
        images += [image for image in declared.pop("images", []) if image not in images]
        if images:  # what the run pushed, `REF@DIGEST`: the job's metadata and run page show it
            metadata = {"images": images, **metadata}
        prow.write_finished(
            self.layout.out_dir,
            finished,
            passed=result.passed,
            result=result.prow_result,
            metadata={
                **declared,  # the job's own (job_metadata.py); foredeck's keys win
                "pipeline": self.pipeline,
                "run": self.name,
                "status": status,
                **metadata,
            },
        )
        self.emit("run-finished", status=status, at=finished)
        if self.build_log is not None:
            self.build_log.close()
        return result
