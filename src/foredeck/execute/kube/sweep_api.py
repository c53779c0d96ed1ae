"""The cluster side of the sweep: list the labelled runs, stop and delete those no job needs.

A run still going is first told to stop as the runner would (the engine's abort patch), then
deleted with `Background` propagation (its pods, TaskRuns and lease Secret go with it). A lease
Secret whose owning run is gone (the garbage collector lags, or the owner was orphaned) is
deleted too; one owned by a run of an engine not swept here is never judged. Every failed call
is logged and counted, and the sweep goes on with the next object. Secret data is never read
into a log line: only names. Listings are read in pages (`PAGE` objects, the API's `limit` and
`continue`), so a namespace with thousands of runs is neither one huge response nor cut short.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from foredeck.execute.kube.argo import ArgoEngine
from foredeck.execute.kube.client import KubeConfigError, api_client, target_of
from foredeck.execute.kube.engine import JOB_LABEL, RUN_LABEL, parse_time
from foredeck.execute.kube.sweep import ClusterTally, Deleted, EngineName, Lookup, verdict
from foredeck.execute.kube.tekton import TektonEngine, succeeded_condition
from foredeck.settings import KubeSettings

log = logging.getLogger(__name__)

ENGINES: dict[str, type[ArgoEngine] | type[TektonEngine]] = {
    "argo": ArgoEngine,
    "tekton": TektonEngine,
}
ARGO_DONE = frozenset({"Succeeded", "Failed", "Error"})
Failure = (ApiException, urllib3.exceptions.HTTPError, OSError)
TIMEOUT = 30.0
"""Seconds per API call: a hung API server must not hold a starting controller's first round."""
PAGE = 500
"""Objects per listing call (the API server's own default chunk size in kubectl)."""


def list_all(page: Callable[[str | None], dict[str, Any]]) -> list[dict[str, Any]]:
    """Every item of a paged listing: `page(token)` returns one page (a List object) from the
    `continue` token of the page before (None first). A token the server no longer honours
    (410 Gone, after etcd compaction) fails the listing: the next sweep starts afresh."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        listing = page(token)
        items.extend(listing.get("items") or [])
        token = (listing.get("metadata") or {}).get("continue") or None
        if token is None:
            return items


def still_running(engine: EngineName, obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    if engine == "argo":
        return str(status.get("phase") or "") not in ARGO_DONE
    return succeeded_condition(obj)[0] == "Unknown"


def _why(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}"
    return repr(exc)


class ClusterSweeper:
    """One sweep of the runs of `engines` in the namespace of `kube`."""

    def __init__(
        self, kube: KubeSettings, engines: Sequence[EngineName], *, grace: float, who: str
    ) -> None:
        self.target = target_of(kube)
        self.namespace = kube.namespace
        self.engines = list(engines)
        self.grace = grace
        self.who = who

    def sweep(self, lookup: Lookup, now: float) -> ClusterTally:
        tally = ClusterTally()
        try:
            client = api_client(self.target)
        except (KubeConfigError, *Failure) as exc:
            log.warning("%s: cluster sweep: no client: %s", self.who, exc)
            tally.errors += 1
            return tally
        try:
            custom = k8s.CustomObjectsApi(client)
            runs: dict[str, set[str]] = {}  # kind -> runs still there, for swept engines
            for engine in self.engines:
                left = self._sweep_runs(custom, engine, lookup, now, tally)
                if left is not None:
                    runs[ENGINES[engine].kind] = left
            self._sweep_secrets(k8s.CoreV1Api(client), runs, now, tally)
        finally:
            client.close()
        return tally

    def _sweep_runs(
        self,
        custom: k8s.CustomObjectsApi,
        engine: EngineName,
        lookup: Lookup,
        now: float,
        tally: ClusterTally,
    ) -> set[str] | None:
        """Judge every labelled run of `engine`; the names of those left (None: not listed)."""
        cls = ENGINES[engine]
        where = (cls.group, cls.version, self.namespace, cls.plural)
        try:
            items = list_all(
                lambda token: _as_dict(
                    custom.list_namespaced_custom_object(
                        *where,
                        label_selector=JOB_LABEL,
                        limit=PAGE,
                        _continue=token,
                        _request_timeout=TIMEOUT,
                    )
                )
            )
            ids = {_job_id(obj) for obj in items} - {None}
            jobs = lookup([i for i in ids if i is not None])
        except Failure as exc:
            log.warning("%s: listing %s in %s: %s", self.who, cls.plural, self.namespace, _why(exc))
            tally.errors += 1
            return None
        left: set[str] = set()
        for obj in items:
            meta = obj.get("metadata") or {}
            name = str(meta.get("name") or "")
            job_id = _job_id(obj)
            why = (
                None
                if job_id is None
                else verdict(meta, jobs.get(job_id), now=now, grace=self.grace)
            )
            if why is None:
                tally.kept += 1
                left.add(name)
                continue
            running = still_running(engine, obj)
            try:
                if running:
                    custom.patch_namespaced_custom_object(
                        *where, name, cls.abort_patch(), _request_timeout=TIMEOUT
                    )
                custom.delete_namespaced_custom_object(
                    *where, name, propagation_policy="Background", _request_timeout=TIMEOUT
                )
            except Failure as exc:
                if not (isinstance(exc, ApiException) and exc.status == 404):
                    log.warning("%s: deleting %s %s: %s", self.who, cls.kind, name, _why(exc))
                    tally.errors += 1
                    left.add(name)
                    continue
            tally.aborted += running
            tally.deleted.append(Deleted(cls.plural, name, str(job_id), why))
            log.info(
                "%s: deleted %s %s/%s of job %s (%s%s)",
                self.who,
                cls.kind,
                self.namespace,
                name,
                job_id,
                why,
                ", aborted first" if running else "",
            )
        return left

    def _sweep_secrets(
        self, core: k8s.CoreV1Api, runs: dict[str, set[str]], now: float, tally: ClusterTally
    ) -> None:
        """Delete the lease Secrets whose owning run (of a swept kind) is gone."""
        if not runs:
            return

        def page(token: str | None) -> dict[str, Any]:
            response: Any = core.list_namespaced_secret(
                self.namespace,
                label_selector=f"{JOB_LABEL},{RUN_LABEL}",
                limit=PAGE,
                _continue=token,
                _preload_content=False,  # raw JSON: the data is never turned into objects
                _request_timeout=TIMEOUT,
            )
            listing: dict[str, Any] = json.loads(response.data)
            return listing

        try:
            items = list_all(page)
        except (*Failure, ValueError) as exc:
            log.warning("%s: listing secrets in %s: %s", self.who, self.namespace, _why(exc))
            tally.errors += 1
            return
        for secret in items:  # names, labels and owners only: the data is never looked at
            meta = secret.get("metadata") or {}
            name = str(meta.get("name") or "")
            owners = [
                ref for ref in meta.get("ownerReferences") or [] if ref.get("kind") in runs
            ]  # owned by a run of a kind listed here
            created = parse_time(meta.get("creationTimestamp"))
            if not owners or created is None or now - created < self.grace:
                continue
            if any(ref.get("name") in runs[ref["kind"]] for ref in owners):
                continue
            job = str((meta.get("labels") or {}).get(JOB_LABEL, ""))
            try:
                core.delete_namespaced_secret(name, self.namespace, _request_timeout=TIMEOUT)
            except Failure as exc:
                if not (isinstance(exc, ApiException) and exc.status == 404):
                    log.warning("%s: deleting Secret %s: %s", self.who, name, _why(exc))
                    tally.errors += 1
                continue
            tally.deleted.append(Deleted("secrets", name, job, "run gone"))
            log.info(
                "%s: deleted Secret %s/%s of job %s (run gone)", self.who, self.namespace, name, job
            )


def _as_dict(listing: object) -> dict[str, Any]:
    return listing if isinstance(listing, dict) else {}


def _job_id(obj: dict[str, Any]) -> int | None:
    value = ((obj.get("metadata") or {}).get("labels") or {}).get(JOB_LABEL)
    return int(value) if isinstance(value, str) and value.isdigit() else None
