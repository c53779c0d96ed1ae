"""`run_remote`: run a pipeline on Argo Workflows or Tekton, with the local executor's outputs.

Shape and files mirror `execute.local.run_pipeline`: `started.json`, `build-log.txt`,
`tasks/<task>/log.index`, `pipeline-run.json` (updated as the run goes) and `finished.json`
under `out_dir`, `on_event` progress, a `cancel` event, and a `RunResult`.

Life of a run: emit the manifest, name it `<pipeline>-<job>-<hex>`, label it
`foredeck.dev/job-id=<job>` and `foredeck.dev/build-id=<attempt>`, create it; watch it (`watch.py`)
and, on every new version, read its pods (and, for Tekton, TaskRuns) to update task states and start
log followers for step containers that have started; at the terminal phase wait for the logs to end,
write the files, then delete the resource (its pods go with it). A job's lease files go into a
Secret made right after the resource and owned by it (pods wait for their volumes, so none starts
without them), deleted when the run ends however it ends (`leases.py`). `cancel` patches the
engine's stop field and the run continues to its terminal phase, which then counts as Cancelled
(Prow: ABORTED).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from foredeck.censor import NO_CENSOR, Censor
from foredeck.execute.kube.argo import ArgoEngine
from foredeck.execute.kube.client import KubeTarget, api_client, dns_name
from foredeck.execute.kube.decorate import Decoration, decorate
from foredeck.execute.kube.engine import BUILD_LABEL, JOB_LABEL, Engine, RunView
from foredeck.execute.kube.leases import RUN_LABEL, LeaseFiles, LeaseMount, owner_reference
from foredeck.execute.kube.logs import PodLogs
from foredeck.execute.kube.tekton import TektonEngine
from foredeck.execute.kube.watch import ObjectWatch
from foredeck.execute.logs import OutputLimit
from foredeck.execute.record import EventCallback, RunRecord
from foredeck.execute.runstate import FINAL_STATUSES, RunResult, TaskRecord
from foredeck.execute.workspace import RunLayout, dir_name
from foredeck.pipeline.model import ParamValue, PipelineRunSpec, RunStatus
from foredeck.pipeline.validate import dependencies
from foredeck.storage import prow

EngineName = Literal["argo", "tekton"]


class RemoteRunError(RuntimeError):
    """The cluster refused the run (invalid manifest, no permission) or the watch failed."""


@dataclass(frozen=True)
class RemoteOptions:
    """Tuning; the defaults suit a real API server (tests shorten them)."""

    delete: bool = True  # delete the Workflow/PipelineRun once the files are written
    watch_timeout: int = 300  # server-side timeout of one watch request (then resume)
    read_timeout: float = 330.0  # a silent connection is dead after this long
    log_grace: float = 30.0  # at the end, wait this long for log streams to finish
    abort_grace: float = 300.0  # after an abort, wait this long for the engine to stop the run
    backoff: float = 0.5  # first pause before reconnecting a broken watch
    ui_url: str | None = None  # Argo UI / Tekton Dashboard base: `uiUrl` in pipeline-run.json
    max_output: OutputLimit | None = None  # step output the build log keeps (`logs.py`)
    censor: Censor = NO_CENSOR  # secrets masked in the run's files (`foredeck.censor`)


def make_engine(engine: EngineName, run: PipelineRunSpec) -> Engine:
    if engine == "argo":
        return ArgoEngine(run)
    if engine == "tekton":
        return TektonEngine(run)
    raise ValueError(f"unknown engine {engine!r} (expected 'argo' or 'tekton')")


def resource_name(run: PipelineRunSpec, job_id: int | str) -> str:
    """`<pipeline>-<job>-<6 hex>`: unique per attempt, findable by job, a DNS label."""
    base = dns_name(run.name or run.pipeline.name, 40)
    return f"{base}-{dns_name(str(job_id), 14)}-{secrets.token_hex(3)}"


async def run_remote(
    run: PipelineRunSpec,
    out_dir: Path,
    *,
    engine: EngineName,
    kube: KubeTarget,
    job_id: int | str,
    cancel: asyncio.Event | None = None,
    on_event: EventCallback | None = None,
    options: RemoteOptions | None = None,
    decoration: Decoration | None = None,
    leases: LeaseFiles | None = None,
    build_id: str | None = None,
) -> RunResult:
    """Run `run` on the cluster of `kube` with `engine`, writing Prow's layout under `out_dir`.

    `decoration` (the controller's) adds the checkout, Prow's env and the artifact upload to
    every pod (see `decorate.py`); without it the emitted manifest runs as is. `leases`, the
    job's lease files, go to its pods in a Secret (`leases.py`; only with a `decoration`).
    `build_id`, the job's attempt, labels the run: the sweep tells a dead attempt's run by it.

    Returns the result whatever the tasks did. Raises RemoteRunError when the cluster refuses
    the run or the watch fails for good (files say FAILURE), OutputDirError like the local
    executor, and CancelledError when the coroutine is cancelled (after asking the engine to
    stop and writing the files).
    """
    if leases is not None and decoration is None:
        raise ValueError("lease files reach pods only through a decoration")
    remote = _RemoteRun(
        run, out_dir, engine, kube, job_id, cancel, on_event, options, decoration, leases, build_id
    )
    return await remote.execute()


class _RemoteRun:
    def __init__(
        self,
        run: PipelineRunSpec,
        out_dir: Path,
        engine: EngineName,
        kube: KubeTarget,
        job_id: int | str,
        cancel: asyncio.Event | None,
        on_event: EventCallback | None,
        options: RemoteOptions | None,
        decoration: Decoration | None = None,
        leases: LeaseFiles | None = None,
        build_id: str | None = None,
    ) -> None:
        self.run = run
        self.build_id = build_id
        self.decoration = decoration
        self.layout = RunLayout(Path(os.path.abspath(out_dir)))
        self.engine_name = engine
        self.engine = make_engine(engine, run)
        self.kube = kube
        self.namespace = kube.namespace
        self.job_id = str(job_id)
        self.cancel_event = cancel
        self.options = options or RemoteOptions()
        self.name = resource_name(run, job_id)
        graph = dependencies(run.pipeline)  # recorded as `runAfter`: the dashboard's edges
        self.records: dict[str, TaskRecord] = {
            t.name: TaskRecord(
                name=t.name,
                pipeline_task=t.name,
                is_finally=is_finally,
                run_after=[] if is_finally else sorted(graph.get(t.name, ())),
            )
            for is_finally, tasks in (
                (False, run.pipeline.tasks),
                (True, run.pipeline.finally_tasks),
            )
            for t in tasks
        }
        if decoration is not None and decoration.upload is not None:
            for record in self.records.values():  # where the steps upload their $ARTIFACTS
                record.artifacts = f"{prow.ARTIFACTS_DIR}/{dir_name(record.name)}"
        fields: dict[str, Any] = {"engine": engine}
        if self.options.ui_url:  # the run's page there: the dashboard's link
            fields["uiUrl"] = ui_link(engine, self.options.ui_url, self.namespace, self.name)
        self.record = RunRecord(
            self.layout,
            self.name,
            run.pipeline.name,
            dict(run.params),
            lambda: self.records,
            on_event,
            run_fields=fields,
        )
        self.log = self.record.log
        self.aborted = False
        self.view = RunView()
        self.results: dict[str, ParamValue] = {}
        self.logs: PodLogs | None = None
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.client: k8s.ApiClient | None = None
        self.children: list[dict[str, Any]] = []
        self.created = False
        self.lease_files = leases
        self.lease_secret: str | None = None
        """The name of the run's Secret of lease files, once it was created."""

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        """From a thread into the loop; after the run the loop may be gone: drop it then."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(callback, *args)

    async def _custom(self, method: str, *args: Any, plural: str | None = None, **kw: Any) -> Any:
        """A `CustomObjectsApi` call on the engine's resources in the run's namespace."""
        engine = self.engine
        call = getattr(self.custom, method)
        where = (engine.group, engine.version, self.namespace, plural or engine.plural)
        return await asyncio.to_thread(call, *where, *args, **kw)

    # -- run -------------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        self.loop = asyncio.get_running_loop()
        self.layout.prepare()
        build_log = self.record.start(
            time.time(),
            self.options.max_output,
            self.options.censor,
            engine=self.engine_name,
            namespace=self.namespace,
            **{"job-id": self.job_id},
        )
        manifest = self._manifest()
        self.record.snapshot(force=True)
        watch: ObjectWatch | None = None
        error: BaseException | None = None
        try:
            self.client = await asyncio.to_thread(api_client, self.kube)
            self.custom = k8s.CustomObjectsApi(self.client)
            self.logs = PodLogs(
                k8s.CoreV1Api(self.client),
                self.namespace,
                self.layout,
                self.records,
                self._post,
                read_timeout=self.options.read_timeout,
            )
            self.logs.build_log = build_log
            created = await self._create(manifest)
            if self.lease_files is not None:
                await self._create_lease_secret(created)
            watch = self._watch()
            await self._follow()
            await self._sync_pods()
            still_open = await self.logs.wait(self.options.log_grace)
            if still_open:
                self.log(f"{still_open} log streams still open after the run; cut")
        except BaseException as exc:
            error = exc
            cancelled = isinstance(exc, asyncio.CancelledError)
            if cancelled and not self.aborted and self.client is not None:
                await asyncio.shield(self._abort())
        finally:
            self._stop_watching(watch)
        result = self._finish(error)
        # Also after a lost watch: an unobserved run would only burn the cluster's resources.
        lost = error is not None and not isinstance(error, asyncio.CancelledError)
        if self.created and self.options.delete and (error is None or lost):
            await self._delete()
        if self.lease_secret is not None:  # also when cancelled: no credentials outlive a run
            await asyncio.shield(self._delete_lease_secret())
        if self.client is not None:
            self.client.close()
        if error is not None:
            if isinstance(error, ApiException):
                raise RemoteRunError(f"{error.status} {_reason(error)}") from error
            raise error
        return result

    def _manifest(self) -> dict[str, Any]:
        """The emitted resource, named, labelled with the job, decorated if asked."""
        labels = {JOB_LABEL: dns_name(self.job_id)}
        if self.build_id is not None and self.build_id.isdigit():  # ids are decimal
            labels[BUILD_LABEL] = self.build_id
        manifest = self.engine.manifest(self.run, self.name, labels)
        manifest["metadata"]["namespace"] = self.namespace
        if self.decoration is not None:
            decoration = self.decoration
            if self.lease_files is not None:
                mount = LeaseMount(f"{self.name}-leases", self.lease_files.paths())
                decoration = replace(decoration, leases=mount)
            manifest = decorate(self.engine_name, manifest, self.run, decoration)
            if self.decoration.no_upload_reason:
                self.log(self.decoration.no_upload_reason)
        return manifest

    async def _create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        where = f"{self.engine.kind} {self.namespace}/{self.name}"
        self.log(f"creating {where} for job {self.job_id}")
        try:
            created: dict[str, Any] = await self._custom(
                "create_namespaced_custom_object", manifest
            )
        except ApiException as exc:
            raise RemoteRunError(f"creating {where}: {exc.status} {_reason(exc)}") from exc
        self.created = True
        self.record.emit("run-started")
        return created

    async def _create_lease_secret(self, owner: dict[str, Any]) -> None:
        """The Secret of the lease files, owned by the run (its pods wait for it). Only its
        name and number of files are logged."""
        assert self.lease_files is not None
        name = f"{self.name}-leases"
        labels = {JOB_LABEL: dns_name(self.job_id), RUN_LABEL: self.name}
        body: Any = self.lease_files.secret(name, self.namespace, labels)  # a dict: sent as is
        body["metadata"]["ownerReferences"] = [owner_reference(owner)]
        count = len(self.lease_files.files)
        self.log(f"creating Secret {self.namespace}/{name} ({count} lease files)")
        core = k8s.CoreV1Api(self.client)
        try:
            await asyncio.to_thread(core.create_namespaced_secret, self.namespace, body)
        except ApiException as exc:
            raise RemoteRunError(f"creating Secret {name}: {exc.status} {_reason(exc)}") from exc
        self.lease_secret = name

    async def _delete_lease_secret(self) -> None:
        name = self.lease_secret
        assert name is not None
        core = k8s.CoreV1Api(self.client)
        try:
            await asyncio.to_thread(core.delete_namespaced_secret, name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:  # 404: gone with its owner already
                self.log(f"deleting Secret {name}: {exc.status} {_reason(exc)} (its run owns it)")
                return
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self.log(f"deleting Secret {name}: {exc!r} (its run owns it)")
            return
        self.lease_secret = None

    def _watch(self) -> ObjectWatch:
        """Start watching the resource: its versions arrive in `queue`."""
        engine = self.engine
        watch = ObjectWatch(
            self.custom,
            group=engine.group,
            version=engine.version,
            plural=engine.plural,
            namespace=self.namespace,
            name=self.name,
            deliver=lambda obj: self._post(self.queue.put_nowait, ("object", obj)),
            fail=lambda exc: self._post(self.queue.put_nowait, ("error", exc)),
            server_timeout=self.options.watch_timeout,
            read_timeout=self.options.read_timeout,
            backoff=self.options.backoff,
        )
        watch.start()
        return watch

    def _stop_watching(self, watch: ObjectWatch | None) -> None:
        if watch is not None:
            watch.stop(timeout=0)
            stats = watch.stats
            self.log(
                f"watch: {stats.connects} connections, {stats.drops} dropped, "
                f"{stats.gone} gone (410), {stats.relists} reads"
            )
        if self.logs is not None:
            self.logs.stop()

    async def _follow(self) -> None:
        """Consume object versions until the run reaches a terminal phase."""
        cancel_wait = asyncio.ensure_future(self.cancel_event.wait()) if self.cancel_event else None
        loop = asyncio.get_running_loop()
        given_up: float | None = None  # when an aborted run stops waiting for its engine
        try:
            while True:
                getter = asyncio.ensure_future(self.queue.get())
                waits: set[asyncio.Future[Any]] = {getter}
                if cancel_wait is not None and not self.aborted:
                    waits.add(cancel_wait)
                left = None if given_up is None else max(given_up - loop.time(), 0.0)
                done, _ = await asyncio.wait(
                    waits, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                if cancel_wait in done and not self.aborted:
                    await self._abort()
                    given_up = loop.time() + self.options.abort_grace
                if getter not in done:
                    getter.cancel()
                    if given_up is not None and loop.time() >= given_up:
                        self._engine_did_not_stop()
                        return
                    continue
                kind, item = getter.result()
                while kind == "object" and not self.queue.empty():  # only the newest matters
                    kind, item = self.queue.get_nowait()
                if kind == "error":
                    raise item
                if item is None:
                    self.log(f"{self.engine.kind} {self.name} was deleted before it finished")
                    self.view.phase = "Done"
                    self.view.status = "Cancelled" if self.aborted else "Failed"
                    return
                await self._update(item)
                if self.view.phase == "Done":
                    return
        finally:
            if cancel_wait is not None:
                cancel_wait.cancel()

    async def _abort(self) -> None:
        self.aborted = True
        engine = self.engine
        self.log(f"abort: patching {engine.kind} {self.name} with {engine.abort_patch()}")
        try:
            await self._custom("patch_namespaced_custom_object", self.name, engine.abort_patch())
        except ApiException as exc:
            self.log(f"abort patch failed: {exc.status} {_reason(exc)}")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self.log(f"abort patch failed: {exc!r}")

    def _engine_did_not_stop(self) -> None:
        """An aborted run whose engine said nothing more within the grace: it ends Cancelled
        here (its tasks not done with it), and the run object is deleted as at every end."""
        grace = self.options.abort_grace
        self.log(f"abort: {self.engine.kind} {self.name} did not stop within {grace:g}s")
        self.view.phase = "Done"
        self.view.status = "Cancelled"
        for record in self.records.values():
            if record.status not in FINAL_STATUSES:
                record.status = "Cancelled"
                record.reason = "the run was aborted"

    async def _update(self, obj: dict[str, Any]) -> None:
        engine = self.engine
        children = self.children
        if engine.child_plural is not None:
            try:
                listing: Any = await self._custom(
                    "list_namespaced_custom_object",
                    plural=engine.child_plural,
                    label_selector=engine.selector(self.name),
                )
                children = self.children = list(listing.get("items") or [])
            except ApiException as exc:  # keep the last list; the next version retries
                self.log(f"listing {engine.child_plural}: {exc.status} {_reason(exc)}")
        view = engine.view(obj, children, self.aborted)
        self.view = view
        self.results = _run_results(self.engine_name, obj)
        for task, state in view.tasks.items():
            record = self.records.get(task)
            if record is None:
                continue
            before = record.status
            record.status = state.status
            record.started = state.started or record.started
            record.finished = state.finished
            record.attempts = max(record.attempts, state.attempts)
            record.reason = state.reason
            if before == "Pending" and state.status != "Pending":
                self.record.emit("task-started", task)
            if before not in FINAL_STATUSES and record.done:
                self.record.emit("task-finished", task, record.status)
                self.log(f"task {task}: {record.status}")
        await self._sync_pods()
        self.record.snapshot(force=view.phase == "Done")

    async def _sync_pods(self) -> None:
        """Start a log follower for every step container that has started."""
        assert self.logs is not None
        try:
            response: Any = await asyncio.to_thread(
                self.logs.core.list_namespaced_pod,
                self.namespace,
                label_selector=self.engine.selector(self.name),
                _preload_content=False,
            )
        except ApiException as exc:  # logs are lost, the run's outcome is not
            self.log(f"listing pods: {exc.status} {_reason(exc)}")
            return
        self.logs.follow(self.engine, json.loads(response.data).get("items") or [])

    async def _delete(self) -> None:
        engine = self.engine
        try:
            await self._custom(
                "delete_namespaced_custom_object", self.name, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != 404:
                self.log(f"deleting {engine.kind} {self.name}: {exc.status} {_reason(exc)}")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self.log(f"deleting {engine.kind} {self.name}: {exc!r}")

    def _finish(self, error: BaseException | None) -> RunResult:
        status = self._run_status(error)
        now = time.time()
        for record in self.records.values():
            if record.done:
                continue
            if record.status == "Running":
                record.status = "Cancelled" if status == "Cancelled" else "Failed"
                record.finished = record.finished or now
            else:
                record.status = "Cancelled" if status == "Cancelled" else "Skipped"
        if self.logs is not None:
            self.logs.close()
        lost = error is not None and not isinstance(error, asyncio.CancelledError)
        return self.record.finish(
            status,
            self.results,
            note=f" ({self.view.reason})" if self.view.reason else "",
            error=str(error) if lost else None,
            engine=self.engine_name,
        )

    def _run_status(self, error: BaseException | None) -> RunStatus:
        if isinstance(error, asyncio.CancelledError) or (self.aborted and error is not None):
            return "Cancelled"
        if error is not None or self.view.status is None:
            return "Failed"
        return self.view.status


def _reason(exc: ApiException) -> str:
    """The `message` of a Kubernetes `Status` body, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or exc.reason or "")[:2000]


def _run_results(engine: EngineName, obj: dict[str, Any]) -> dict[str, ParamValue]:
    """Pipeline results: Argo's entrypoint outputs, Tekton's `status.results`."""
    status = obj.get("status") or {}
    if engine == "argo":
        items = (status.get("outputs") or {}).get("parameters") or []
    else:
        items = status.get("results") or []
    values: dict[str, ParamValue] = {}
    for item in items:
        if isinstance(item, dict) and "name" in item and "value" in item:
            values[str(item["name"])] = item["value"]
    return values


def ui_link(engine: EngineName, base_url: str, namespace: str, name: str) -> str:
    """The run's page in the Argo UI or the Tekton Dashboard (the seed's link next to a job);
    `name` is `RunEvent.run` of the `run-started` event."""
    base = base_url.rstrip("/")
    if engine == "argo":
        return f"{base}/workflows/{namespace}/{name}"
    return f"{base}/#/namespaces/{namespace}/pipelineruns/{name}"
