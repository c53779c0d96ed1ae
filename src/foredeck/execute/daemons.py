"""Argo daemons on a host: a task whose process serves the later tasks of its phase.

Argo runs a `daemon: true` template's pod in the background: its node counts as done (and as
`Daemoned`) once the pod is ready, later steps reach it at `{{steps.X.ip}}`, and it is killed
when the steps/dag template that started it ends. On a host every task shares the host's
network, so its address is `127.0.0.1` (`HOST_IP`); in a container on a network of its own
(`PodmanConfig.daemon_network`) it is that container's, as a pod's (`served.py`), so that two
daemons may serve one port. The task is Succeeded once ready, its slot
is freed, and its steps keep running until its phase ends (`Phase.scope_end`: SIGTERM, then
SIGKILL after the kill grace), or the run stops. An inlined dag/steps template has no phase of
its own, so a daemon started in one lives until the enclosing phase (the run's DAG, or the
sub-graph call) ends: longer than in Argo, never shorter.

Ready means: its step's `readinessProbe` (`httpGet`: a 2xx/3xx answer from its address,
`tcpSocket`: a connection; after `initialDelaySeconds`, polled at most every half second)
succeeds, or, without one (or with an `exec` probe, not run on a host), the process has not
ended within `START_GRACE` (and its container has an address). A daemon that ends before it
is ready settles as its steps ended (a daemon that exits 0 Succeeded, as an Argo pod that
completes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from foredeck.execute.attempts import AttemptHost, Instance, attempt_steps, open_instance
from foredeck.execute.lookups import HOST_IP, RunScope
from foredeck.execute.runstate import TaskRecord
from foredeck.execute.scheduler import Phase
from foredeck.execute.served import Served
from foredeck.pipeline.model import ParamValue, PipelineTask, Step, TaskSpec, TaskStatus

START_GRACE = 0.2  # seconds a daemon without a probe must keep running to count as started
_POLL = 0.5


async def run_daemon(
    run: AttemptHost,
    phase: Phase,
    task: PipelineTask,
    spec: TaskSpec,
    record: TaskRecord,
    params: dict[str, ParamValue],
    workspaces: dict[str, str] | None = None,
    scope: RunScope | None = None,
) -> None:
    """Run the daemon until its phase ends; settle it Succeeded once it is ready (`workspaces`
    and `scope` as for `attempts.run_instance`)."""
    await run.slots.acquire()
    held = True
    try:
        if phase.stopping is not None:
            run.settle_unstarted(record, phase.stopping)
            return
        dname, files, logger = open_instance(run, record)
        record.attempts = 1
        run.record.emit("task-started", record.name, "Running", 1)
        one = Instance(
            phase,
            task,
            spec,
            record,
            params,
            dname,
            files.artifacts,
            logger,
            workspaces,
            scope or run.scope,
            stop=phase.scope_end,
            served=Served(),
        )
        body = asyncio.ensure_future(attempt_steps(run, one, 1))
        probe = asyncio.ensure_future(ready(spec.steps, logger.message, _address(run, one)))
        try:
            await asyncio.wait({body, probe}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not probe.done():
                probe.cancel()
        if not body.done() and probe.done() and not probe.cancelled():
            record.daemoned = True
            record.address = probe.result()
            run.settle(record, "Succeeded", f"daemon ready at {record.address}")
            run.slots.release()
            held = False
            phase.daemon_ready(record.name)
            status, reason, _ = await body
            logger.message(f"daemon stopped as its scope ended ({status}: {reason or 'ok'})")
        else:
            status, reason, _ = await body
            run.settle(record, status, _before_ready(status, reason))
        logger.close()
        if files.log.created:
            record.log = run.layout.task_log_rel(dname)
    finally:
        if held:
            run.slots.release()


def _before_ready(status: TaskStatus, reason: str) -> str:
    return reason if status == "Succeeded" else f"daemon ended before it was ready: {reason}"


Address = Callable[[], Awaitable[str | None]]


def _address(run: AttemptHost, one: Instance) -> Address:
    """Where the daemon `one` serves, once known (see `served.py`)."""
    served = one.served
    assert served is not None

    async def address() -> str | None:
        if not served.started:
            return None
        containers = run.steps.containers
        if served.container is None or containers is None:
            return HOST_IP
        return await containers.address(served.container)

    return address


async def ready(steps: list[Step], note: Any, address: Address) -> str:
    """Return the daemon's address once its service is ready (see the module docstring)."""
    step = next((s for s in steps if "readinessProbe" in s.cluster), None)
    probe = step.cluster.get("readinessProbe") if step is not None else None
    if not isinstance(probe, dict) or not ({"httpGet", "tcpSocket"} & set(probe)):
        if isinstance(probe, dict):
            note("readinessProbe: only httpGet and tcpSocket are probed on a host")
        await asyncio.sleep(START_GRACE)
        while (host := await address()) is None:
            await asyncio.sleep(START_GRACE)
        return host
    assert step is not None
    await asyncio.sleep(_seconds(probe.get("initialDelaySeconds"), 0.0))
    period = min(_seconds(probe.get("periodSeconds"), 10.0), _POLL)
    timeout = _seconds(probe.get("timeoutSeconds"), 1.0)
    while True:
        host = await address()
        if host is not None and await _probe_once(probe, step, timeout, host):
            return host
        await asyncio.sleep(period)


async def _probe_once(probe: dict[str, Any], step: Step, timeout: float, host: str) -> bool:
    kind = "httpGet" if "httpGet" in probe else "tcpSocket"
    action = probe[kind] if isinstance(probe[kind], dict) else {}
    port = _port(action.get("port"), step)
    if port is None:
        return False
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                if kind == "tcpSocket":
                    return True
                path = str(action.get("path") or "/")
                request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n"
                writer.write(request.encode("latin-1", "replace"))
                await writer.drain()
                line = await reader.readline()
                parts = line.split()
                return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError, ValueError):
        return False


def _port(raw: Any, step: Step) -> int | None:
    """A probe's port: a number, or the name of one of the container's `ports`."""
    if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
        return int(raw)
    for entry in step.cluster.get("ports") or []:
        if isinstance(entry, dict) and entry.get("name") == raw:
            found = entry.get("containerPort")
            return int(found) if isinstance(found, int | str) and str(found).isdigit() else None
    return None


def _seconds(raw: Any, default: float) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0:
        return float(raw)
    return default
