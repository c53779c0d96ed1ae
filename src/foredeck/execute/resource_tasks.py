"""Argo `resource` tasks on the host: the object is created, patched ... through the API of the
cluster in the `kube:` settings, as Argo's executor does with kubectl
(`workflow/executor/resource.go`, revision 680ee6c2).

The `kubernetes` dynamic client does the calls, each in a thread (it blocks), with the run's
stop and deadlines checked between them. After the action the object is polled until the
success condition holds or the failure condition does (Argo polls every 5 s; here every
`poll` seconds), then the output parameters are read from it by JSONPath. `delete` ignores
an object that is not there (`--ignore-not-found`); `setOwnerReference` is noted and skipped:
a host run has no Workflow object to own it. The package is imported only by a run that has
such a task, so that other runs never need it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from foredeck.execute import lookups
from foredeck.execute.logs import TaskLogger
from foredeck.execute.scheduler import earliest
from foredeck.pipeline.expressions import Lookup, SubstitutionError
from foredeck.pipeline.kube_selectors import (
    Requirement,
    SelectorError,
    Target,
    jq_path,
    json_path,
    parse_flags,
    parse_requirements,
)
from foredeck.pipeline.model import KubeResource, Pipeline, TaskStatus

if TYPE_CHECKING:
    from foredeck.execute.kube.client import KubeTarget

NEEDS_CLUSTER = (
    "a resource template needs a Kubernetes cluster: set kube.kubeconfig (or kube.auth:"
    " in-cluster|eks) in the settings ($FOREDECK_CONFIG, FOREDECK_KUBE__KUBECONFIG), or run it"
    " on a cluster (--emit argo)"
)
PATCH_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}
Outcome = tuple[TaskStatus, str, bool]


def uses_resources(pipeline: Pipeline) -> bool:
    """Whether any task of the pipeline or its sub-graphs is a `resource` task."""
    graphs = [pipeline, *pipeline.graph_library.values()]
    for graph in graphs:
        specs = [t.task_spec for t in graph.all_tasks() if t.task_spec is not None]
        if any(s.resource is not None for s in [*specs, *graph.task_library.values()]):
            return True
    return False


class ResourceError(RuntimeError):
    """An action the API refused, or an object that cannot be acted on as written."""


@dataclass
class Resolved:
    """A resource with its texts substituted: the object (or patch) and whom it names."""

    body: Any
    target: Target
    success: list[Requirement]
    failure: list[Requirement]
    notes: list[str] = field(default_factory=list)


def resolve(resource: KubeResource, lookup: Lookup) -> Resolved:
    """Substitute the resource's texts and parse them. Raises SubstitutionError, ValueError."""

    def text(value: str) -> str:
        return lookups.text(value, lookup)

    manifest = text(resource.manifest)
    try:
        body = yaml.safe_load(manifest) if manifest.strip() else None
    except yaml.YAMLError as exc:
        raise ResourceError(f"manifest is not YAML: {exc}") from None
    target = parse_flags([text(f) for f in resource.flags], resource.action)
    success = parse_requirements(text(resource.success_condition))
    failure = parse_requirements(text(resource.failure_condition))
    if body is not None and not isinstance(body, dict | list):
        raise ResourceError("manifest: expected an object")
    notes = list(target.notes)
    if resource.set_owner_reference:
        notes.append("setOwnerReference skipped: a host run has no Workflow object to own it")
    return Resolved(body, target, success, failure, notes)


class ResourceRunner:
    """Acts on objects in one cluster for one run (one API client, made at the first use)."""

    def __init__(self, target: KubeTarget, poll: float = 1.0) -> None:
        self.target = target
        self.poll = poll
        self._client: Any = None
        self._cache: str | None = None  # the discovery cache's directory, this runner's own
        self._lock = asyncio.Lock()

    async def run(
        self,
        resource: KubeResource,
        lookup: Lookup,
        logger: TaskLogger,
        stop: asyncio.Future[None],
        deadlines: list[tuple[float | None, str]],
    ) -> tuple[Outcome, dict[str, str]]:
        """One attempt: (status, reason, whether a retry may help), and the results."""
        deadline, which = earliest(deadlines)
        try:
            plan = resolve(resource, lookup)
        except (SubstitutionError, SelectorError, ResourceError) as exc:
            logger.message(f"resource: {exc}")
            return ("Failed", str(exc), False), {}
        for note in plan.notes:
            logger.message(f"resource: {note}")
        try:
            client = await self._dynamic()
            obj = await self._call(stop, deadline, _act, client, resource, plan, self.target)
            if obj is None:  # deleted, or nothing to get: outputs are their defaults
                return ("Succeeded", "", False), dict(resource.defaults)
            ref = _ref(obj)
            logger.message(f"resource: {resource.action} {ref.label}")
            if plan.success or plan.failure:
                obj = await self._wait(client, ref, plan, logger, stop, deadline)
            results = {name: json_path(obj, path) for name, path in resource.outputs.items()}
            results |= {name: jq_path(obj, jq) for name, jq in resource.jq.items()}
            return ("Succeeded", "", False), results
        except _Stopped as exc:
            status: TaskStatus = "Cancelled" if exc.cancelled else "TimedOut"
            reason = "cancelled" if exc.cancelled else f"{which} timeout expired"
            logger.message(f"resource: {reason}")
            return (status, reason, not exc.cancelled and which != "pipeline"), {}
        except (ResourceError, SelectorError) as exc:
            logger.message(f"resource: {exc}")
            return ("Failed", str(exc), True), {}

    async def _dynamic(self) -> Any:
        async with self._lock:
            if self._client is None:
                self._cache = tempfile.mkdtemp(prefix="foredeck-kube-discovery-")
                cache = os.path.join(self._cache, "discovery.json")
                self._client = await asyncio.to_thread(_new_client, self.target, cache)
            return self._client

    def close(self) -> None:
        """Close the API client and remove its discovery cache (the run's end)."""
        if self._client is not None:
            self._client.client.close()
            self._client = None
        if self._cache is not None:
            shutil.rmtree(self._cache, ignore_errors=True)
            self._cache = None

    async def _call(
        self, stop: asyncio.Future[None], deadline: float | None, fn: Any, *args: Any
    ) -> Any:
        """`fn(*args)` in a thread; raises _Stopped when the run stops or the deadline passes
        first (the call itself finishes in its thread, its result unused)."""
        loop = asyncio.get_running_loop()
        call = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        timeout = None if deadline is None else max(0.0, deadline - loop.time())
        done, _ = await asyncio.wait([call, stop], timeout=timeout, return_when="FIRST_COMPLETED")
        if call in done:
            try:
                return call.result()
            except (ResourceError, SelectorError):
                raise
            except Exception as exc:  # the connection, discovery: as the client says it
                raise ResourceError(f"Kubernetes API: {_api_message(exc)}") from None
        call.add_done_callback(lambda f: f.exception())  # retrieved: no "never retrieved"
        raise _Stopped(stop in done)

    async def _wait(
        self,
        client: Any,
        ref: _Ref,
        plan: Resolved,
        logger: TaskLogger,
        stop: asyncio.Future[None],
        deadline: float | None,
    ) -> Any:
        """Poll the object until a condition decides (Argo's `WaitResource`)."""
        conditions = ", ".join(str(r) for r in plan.success) or "-"
        logger.message(f"resource: waiting for {conditions} on {ref.label}")
        loop = asyncio.get_running_loop()
        while True:
            obj = await self._call(stop, deadline, _get, client, ref)
            if obj is None:
                raise ResourceError(f"{ref.label} was deleted while its conditions were awaited")
            for req in plan.failure:
                if req.matches(obj):
                    raise ResourceError(f"failure condition '{req}' evaluated true")
            if all(req.matches(obj) for req in plan.success):
                return obj
            if deadline is not None and loop.time() + self.poll > deadline:
                raise _Stopped(False)
            await asyncio.wait([stop], timeout=self.poll)
            if stop.done():
                raise _Stopped(True)


class _Stopped(Exception):
    def __init__(self, cancelled: bool) -> None:
        super().__init__()
        self.cancelled = cancelled


@dataclass(frozen=True)
class _Ref:
    api_version: str
    kind: str
    name: str
    namespace: str | None

    @property
    def label(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.kind} {self.name}{where}"


def _ref(obj: Any) -> _Ref:
    meta = obj.get("metadata") or {}
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    return _Ref(api_version, kind, meta.get("name", ""), meta.get("namespace"))


def _new_client(target: KubeTarget, cache_file: str) -> Any:
    from kubernetes.dynamic import DynamicClient

    from foredeck.execute.kube.client import KubeConfigError, api_client

    try:
        client = api_client(target)
        return DynamicClient(client, cache_file=cache_file)
    except KubeConfigError as exc:
        raise ResourceError(f"{NEEDS_CLUSTER.split(':')[0]}: {exc}") from None
    except Exception as exc:  # discovery against an unreachable or refusing server
        raise ResourceError(f"Kubernetes API: {_api_message(exc)}") from None


def _api_message(exc: Exception) -> str:
    """An API error as the server said it (its Status message), else the exception."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes | str):
        try:
            status = yaml.safe_load(body)
            if isinstance(status, dict) and status.get("message"):
                return f"{status.get('reason', '')}: {status['message']}".lstrip(": ")
        except yaml.YAMLError:
            pass
    return str(getattr(exc, "summary", lambda: "")() or exc).strip().splitlines()[0]


def _api(client: Any, api_version: str, kind: str) -> Any:
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    try:
        return client.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        raise ResourceError(f"the cluster has no kind {kind!r} in {api_version!r}") from None


def _by_type(client: Any, kind: str) -> Any:
    """A resource type as kubectl takes it: plural, singular, short name or kind, with an
    optional `.group` (`jobs.batch`)."""
    name, _, group = kind.lower().partition(".")
    for attr in ("name", "singular_name", "short_names"):
        found = [
            r
            for r in client.resources.search(**{attr: [name] if attr == "short_names" else name})
            if not group or r.group == group
        ]
        found = [r for r in found if "/" not in r.name]  # not a subresource
        if found:
            return found[0]
    for r in client.resources.search():
        if getattr(r, "kind", "").lower() == name and (not group or r.group == group):
            return r
    raise ResourceError(f"the cluster has no resource type {kind!r}")


def _act(client: Any, resource: KubeResource, plan: Resolved, target: KubeTarget) -> Any:
    """The action (in a thread): the object as the API returned it, or None."""
    from kubernetes.client.exceptions import ApiException

    action, body, flags = resource.action, plan.body, plan.target
    # kubectl's `-f MANIFEST` form, unless flags name the object (a patch of another kind)
    named = isinstance(body, dict) and bool(body.get("kind")) and not flags.kind
    named = named and not (action == "patch" and resource.merge_strategy == "json")
    if named:
        api = _api(client, str(body.get("apiVersion", "")), str(body["kind"]))
        meta = body.get("metadata") or {}
        name = flags.name or meta.get("name", "")
    elif flags.kind:
        api = _by_type(client, flags.kind)
        meta, name = {}, flags.name
    else:
        raise ResourceError(f"{action}: the manifest names no kind, and no flags TYPE NAME")
    namespace = meta.get("namespace") or (target.namespace if api.namespaced else None)
    try:
        if action == "create":
            return client.create(api, body=body, namespace=namespace).to_dict()
        if action == "replace":
            return client.replace(api, body=body, namespace=namespace).to_dict()
        if action == "apply":
            applied = client.server_side_apply(
                api, body=body, name=name, namespace=namespace, field_manager="foredeck"
            )
            return applied.to_dict()
        if action == "patch":
            kind = PATCH_TYPES[resource.merge_strategy]
            return client.patch(
                api, body=body, name=name, namespace=namespace, content_type=kind
            ).to_dict()
        if action == "delete":
            if flags.selector and not name:
                client.delete(api, namespace=namespace, label_selector=flags.selector)
            else:
                client.delete(api, name=name, namespace=namespace)
            return None
        if not name:  # get: `kubectl get TYPE -l ...` lists; a resource template wants one
            raise ResourceError("get: name one object (a manifest, or flags TYPE NAME)")
        return client.get(api, name=name, namespace=namespace).to_dict()
    except ApiException as exc:
        if action == "delete" and exc.status == 404:
            return None
        raise ResourceError(f"{action}: {_api_message(exc)}") from None


def _get(client: Any, ref: _Ref) -> Any:
    """The object now, or None once it is gone (in a thread)."""
    from kubernetes.client.exceptions import ApiException

    api = _api(client, ref.api_version, ref.kind)
    try:
        return client.get(api, name=ref.name, namespace=ref.namespace).to_dict()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise ResourceError(f"get {ref.label}: {_api_message(exc)}") from None
