"""Follow one custom object until told to stop, surviving dropped connections.

The `kubernetes` client is synchronous, so the watch runs in a thread and hands each version of
the object to a callback (the runner forwards it into its event loop). Resumption follows the
API server's contract: every event carries the object's `resourceVersion`; after the stream
ends (server timeout) or breaks (a proxy, a load balancer, an API server restart), the watch
reconnects from the last version seen, so no change is lost or seen twice. When that version
is too old (`410 Gone`, as an HTTP status or as an `ERROR` event), it re-reads the object
(GET) and watches from the version that returned.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

_TRANSIENT = frozenset({0, 429, 500, 502, 503, 504})


@dataclass
class WatchStats:
    connects: int = 0
    relists: int = 0  # GETs: the first one, and one per 410 Gone
    drops: int = 0  # streams that broke (not a clean end)
    gone: int = 0


Deliver = Callable[[dict[str, Any] | None], None]  # an object version; None: deleted
Fail = Callable[[BaseException], None]


class ObjectWatch:
    """Watches `namespace/plural/name` of `group/version` in a daemon thread."""

    def __init__(
        self,
        api: k8s.CustomObjectsApi,
        *,
        group: str,
        version: str,
        plural: str,
        namespace: str,
        name: str,
        deliver: Deliver,
        fail: Fail,
        server_timeout: int = 300,
        read_timeout: float = 330.0,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
    ) -> None:
        self._api = api
        self._where = (group, version, namespace, plural)
        self._name = name
        self._deliver = deliver
        self._fail = fail
        self._server_timeout = server_timeout
        self._read_timeout = read_timeout
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._response: Any = None
        self._version: str | None = None  # the last resourceVersion seen
        self.stats = WatchStats()
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and wait for the thread; a blocked read is woken by shutting its socket."""
        self._stop.set()
        with self._lock:
            response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # best effort: the read timeout ends it too
                response.shutdown()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self._backoff
        while not self._stop.is_set():
            try:
                if self._version is None:
                    self.stats.relists += 1
                    obj: Any = self._api.get_namespaced_custom_object(*self._where, self._name)
                    if self._stop.is_set():
                        return
                    self._deliver(obj)
                    self._version = str(obj["metadata"]["resourceVersion"])
                self._stream(self._version)
                delay = self._backoff
            except ApiException as exc:
                if exc.status == 410:
                    self.stats.gone += 1
                    self._version = None
                    continue
                if exc.status == 404:
                    self._deliver(None)
                    return
                if exc.status not in _TRANSIENT:
                    self._fail(exc)
                    return
                self.stats.drops += 1
                delay = self._pause(delay)
            except (urllib3.exceptions.HTTPError, OSError, ValueError):
                if self._stop.is_set():
                    return
                self.stats.drops += 1
                delay = self._pause(delay)
            except BaseException as exc:  # a bug: tell the runner rather than hang it
                self._fail(exc)
                return

    def _pause(self, delay: float) -> float:
        self._stop.wait(delay)
        return min(delay * 2, self._max_backoff)

    def _stream(self, version: str) -> None:
        """One watch connection. `_version` follows every event, so whatever way the
        connection ends, the next one resumes after the last event seen (None: re-list)."""
        self.stats.connects += 1
        response: Any = self._api.list_namespaced_custom_object(
            *self._where,
            watch=True,
            resource_version=version,
            field_selector=f"metadata.name={self._name}",
            allow_watch_bookmarks=True,
            timeout_seconds=self._server_timeout,
            _preload_content=False,
            _request_timeout=(10.0, self._read_timeout),
        )
        with self._lock:
            self._response = response
        try:
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    return
                if not line:
                    continue
                event = json.loads(line)
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    code = int(obj.get("code") or 0)
                    if code == 410:
                        self.stats.gone += 1
                        self._version = None
                        return
                    raise ApiException(status=code, reason=str(obj.get("message", "")))
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                self._version = version
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    self._deliver(None)
                    self._stop.set()
                    return
                self._deliver(obj)
        finally:
            with self._lock:
                self._response = None
            response.release_conn()
