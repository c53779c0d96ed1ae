"""A Kubernetes API server double on 127.0.0.1, for the Argo and Tekton executors.

It serves the real API paths the `kubernetes` client calls (custom objects and Secrets: create, get,
list, watch, merge-patch, delete; pods: list, log) with the API server's wire behaviour where the
executors depend on it: a global `resourceVersion`, watch streams of JSON `WatchEvent` lines that
resume from a version, `ERROR` events with a 410 `Status` for a version that has been compacted, k8s
`Status` bodies for errors, bearer-token auth, equality and existence label selectors and the
`metadata.name` field selector.

Created Workflows and PipelineRuns are VALIDATED against the upstream schemas vendored in
`tests/data/schemas/` (as `tests/pipeline/test_emit.py` does) and refused with a 422 `Status`;
Secrets against Kubernetes' `core/v1 Secret` (its `ObjectMeta` from the same vendored schema)
and the API server's rules for them (keys `[-._a-zA-Z0-9]+`, base64 data, 1 MiB in all).
Deleting an object deletes what names it in `ownerReferences` (Kubernetes' garbage collector).

No controller runs here: tests play the engine with `ArgoSim` / `TektonSim` (`engines.py`),
which write `status`, TaskRuns and pods as Argo's and Tekton's controllers would. Faults are
injected with `drop_watch_after()` (a stream that breaks mid-way, optionally compacting the
history so the resume gets 410 Gone).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import uvicorn
from jsonschema import Draft4Validator, Draft7Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SCHEMAS = Path(__file__).resolve().parents[2] / "data" / "schemas"
TOKEN = "double-token-" + secrets.token_hex(4)

# (group, version, plural) -> kind; the resources this double knows.
KINDS: dict[tuple[str, str, str], str] = {
    ("argoproj.io", "v1alpha1", "workflows"): "Workflow",
    ("tekton.dev", "v1", "pipelineruns"): "PipelineRun",
    ("tekton.dev", "v1", "taskruns"): "TaskRun",
    ("", "v1", "secrets"): "Secret",
}
SECRETS = ("", "v1", "secrets")
MAX_SECRET_BYTES = 1024 * 1024


@cache
def argo_validator() -> Draft7Validator:
    schema = json.loads((SCHEMAS / "argo-workflows-schema.json").read_text())
    ref = "#/definitions/io.argoproj.workflow.v1alpha1.Workflow"
    return Draft7Validator({"$ref": ref, "definitions": schema["definitions"]})


@cache
def tekton_validator() -> Draft4Validator:
    schema = json.loads((SCHEMAS / "tekton-pipeline-v1-with-k8s.json").read_text())
    definitions = schema["definitions"]
    # The one documented deviation (tests/data/schemas/README.md): ParamValue's wire form.
    strings = {"type": "string"}
    definitions["v1.ParamValue"] = {
        "anyOf": [
            strings,
            {"type": "array", "items": strings},
            {"type": "object", "additionalProperties": strings},
        ]
    }
    return Draft4Validator({"$ref": "#/definitions/v1.PipelineRun", "definitions": definitions})


@cache
def secret_validator() -> Draft7Validator:
    """`io.k8s.api.core.v1.Secret` of Kubernetes' OpenAPI (not in the vendored files: its fields
    written out here, its `ObjectMeta` theirs), with the API server's rule for keys."""
    definitions = json.loads((SCHEMAS / "argo-workflows-schema.json").read_text())["definitions"]
    key = {"type": "string", "pattern": "^[-._a-zA-Z0-9]+$", "maxLength": 253}
    base64 = {"type": "string", "pattern": "^[A-Za-z0-9+/]*={0,2}$"}
    secret = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
            "data": {"type": "object", "propertyNames": key, "additionalProperties": base64},
            "stringData": {
                "type": "object",
                "propertyNames": key,
                "additionalProperties": {"type": "string"},
            },
            "type": {"type": "string"},
            "immutable": {"type": "boolean"},
        },
        "additionalProperties": False,
    }
    return Draft7Validator({**secret, "definitions": definitions})


def secret_too_large(body: dict[str, Any]) -> str | None:
    size = sum(len(k) + len(base64.b64decode(v)) for k, v in (body.get("data") or {}).items())
    size += sum(len(k) + len(v.encode()) for k, v in (body.get("stringData") or {}).items())
    return (
        f"data: Too long: must have at most {MAX_SECRET_BYTES} bytes"
        if size > MAX_SECRET_BYTES
        else None
    )


VALIDATORS: dict[str, Any] = {
    "Workflow": argo_validator,
    "PipelineRun": tekton_validator,
    "Secret": secret_validator,
}


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
        "code": code,
    }


def status_response(code: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse(status_body(code, reason, message), status_code=code)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def matches_labels(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in selector.split(","):
        key, equals, value = term.partition("=")
        if not equals:  # `key`: the label exists, whatever its value
            if key.strip() not in labels:
                return False
        elif labels.get(key.strip()) != value.strip():
            return False
    return True


def matches_fields(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if key != "metadata.name":
            raise ValueError(f"field selector {key!r} not supported by the double")
        if (obj.get("metadata") or {}).get("name") != value:
            return False
    return True


def page_of(
    items: list[dict[str, Any]], limit: str | None, token: str | None, rv: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of a sorted listing, as the API server's chunked list gives it: at most `limit`
    items after the name the `continue` token carries, and a token (with `remainingItemCount`)
    when more are left. A token that does not decode is a 400, as upstream ("continue key is not
    valid")."""
    metadata: dict[str, Any] = {"resourceVersion": str(rv)}
    if token:
        try:
            after = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
        except (ValueError, KeyError, TypeError):
            raise ValueError("continue key is not valid") from None
        items = [obj for obj in items if str(obj["metadata"]["name"]) > after]
    size = int(limit) if limit else 0
    if size <= 0 or len(items) <= size:
        return items, metadata
    last = str(items[size - 1]["metadata"]["name"])
    metadata["continue"] = base64.urlsafe_b64encode(json.dumps({"start": last}).encode()).decode()
    metadata["remainingItemCount"] = len(items) - size
    return items[:size], metadata


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate (its own CA) for 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-double")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "double.crt", directory / "double.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Container:
    name: str
    state: str = "waiting"  # waiting | running | terminated
    log: bytearray = field(default_factory=bytearray)
    exit_code: int = 0


@dataclass
class Pod:
    namespace: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    containers: dict[str, Container]

    def to_json(self) -> dict[str, Any]:
        statuses = []
        for c in self.containers.values():
            if c.state == "waiting":
                state: dict[str, Any] = {"waiting": {"reason": "PodInitializing"}}
            elif c.state == "running":
                state = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
            else:
                state = {"terminated": {"exitCode": c.exit_code}}
            statuses.append({"name": c.name, "state": state, "ready": c.state == "running"})
        states = {c.state for c in self.containers.values()}
        phase = (
            "Pending"
            if states == {"waiting"}
            else "Running"
            if "running" in states or "waiting" in states
            else "Succeeded"
            if all(c.exit_code == 0 for c in self.containers.values())
            else "Failed"
        )
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": dict(self.labels),
                "annotations": dict(self.annotations),
            },
            "spec": {"containers": [{"name": n, "image": "x"} for n in self.containers]},
            "status": {"phase": phase, "containerStatuses": statuses},
        }


@dataclass
class Event:
    rv: int
    resource: tuple[str, str, str]
    namespace: str
    type: str
    obj: dict[str, Any]


class KubeDouble:
    """State and fault switches of the double; `url` once `start()`ed."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.lock = threading.RLock()
        self.rv = 100
        self.objects: dict[tuple[tuple[str, str, str], str, str], dict[str, Any]] = {}
        self.history: list[Event] = []
        self.compacted = 0  # watches from a version below this get 410 Gone
        self.pods: dict[tuple[str, str], Pod] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.rejected: list[dict[str, Any]] = []  # Status bodies of refused creates
        self.watches_open = 0
        self.drops = 0
        self.gone_sent = 0
        self._drop_after: int | None = None
        self._drop_compacts = False
        self.pods_forbidden = False  # pod listing answers 403 (RBAC without pods)
        self.watch_forbidden = False  # watch requests answer 403 (RBAC without watch)
        self.secrets_forbidden = False  # creating a Secret answers 403 (RBAC without secrets)
        self.undeletable: set[str] = set()  # DELETE of an object of these names answers 403
        self.missing: set[str] = set()  # plurals whose CRD is not installed: 404 Not Found
        self.gone_http = 0  # the next N watch requests get an HTTP 410 instead of a stream
        self.url = ""
        self.port = 0
        self.ca_path: Path | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, tls_dir: Path | None = None) -> None:
        """Serve plain HTTP, or HTTPS with a self-signed certificate for 127.0.0.1 written
        into `tls_dir` (`ca_path` is then the certificate to trust)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        tls: dict[str, Any] = {}
        if tls_dir is not None:
            self.ca_path, key_path = self_signed(tls_dir)
            tls = {"ssl_certfile": str(self.ca_path), "ssl_keyfile": str(key_path)}
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        # "critical": a deliberately broken watch stream must not print a traceback.
        config = uvicorn.Config(
            self.app(),
            log_level="critical",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,  # a client that never hangs up must not stall teardown
            **tls,
        )
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="kube-double",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("Kubernetes double did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def kubeconfig(self, path: Path, namespace: str = "ci", token: str | None = None) -> Path:
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "double", "cluster": {"server": self.url}}],
            "users": [{"name": "ci", "user": {"token": token or self.token}}],
            "contexts": [
                {
                    "name": "double",
                    "context": {"cluster": "double", "user": "ci", "namespace": namespace},
                }
            ],
            "current-context": "double",
        }
        path.write_text(json.dumps(doc))  # JSON is YAML
        return path

    # -- state, for tests and simulated engines ------------------------------------------------

    def _record(
        self, resource: tuple[str, str, str], ns: str, kind: str, obj: dict[str, Any]
    ) -> None:
        self.history.append(Event(self.rv, resource, ns, kind, copy.deepcopy(obj)))

    def put(self, resource: tuple[str, str, str], ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object (as a controller would), with a new resourceVersion."""
        with self.lock:
            name = obj["metadata"]["name"]
            key = (resource, ns, name)
            existed = key in self.objects
            self.rv += 1
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = str(self.rv)
            meta["namespace"] = ns
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            self.objects[key] = copy.deepcopy(obj)
            self._record(resource, ns, "MODIFIED" if existed else "ADDED", obj)
            return copy.deepcopy(obj)

    def get(self, resource: tuple[str, str, str], ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((resource, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def update(
        self, resource: tuple[str, str, str], ns: str, name: str, change: Any
    ) -> dict[str, Any]:
        """Apply `change(obj)` to a stored object and publish a MODIFIED event."""
        with self.lock:
            obj = self.get(resource, ns, name)
            if obj is None:
                raise KeyError(name)
            change(obj)
            return self.put(resource, ns, obj)

    def names(self, resource: tuple[str, str, str], ns: str) -> list[str]:
        with self.lock:
            return [k[2] for k in self.objects if k[0] == resource and k[1] == ns]

    def add_pod(
        self,
        ns: str,
        name: str,
        containers: list[str],
        labels: dict[str, str],
        annotations: dict[str, str] | None = None,
    ) -> Pod:
        with self.lock:
            pod = Pod(ns, name, labels, annotations or {}, {c: Container(c) for c in containers})
            self.pods[(ns, name)] = pod
            return pod

    def container(self, ns: str, pod: str, name: str) -> Container:
        return self.pods[(ns, pod)].containers[name]

    def write_log(self, ns: str, pod: str, container: str, text: str) -> None:
        with self.lock:
            c = self.container(ns, pod, container)
            c.state = "running" if c.state == "waiting" else c.state
            c.log.extend(text.encode())

    def set_container(self, ns: str, pod: str, container: str, state: str, code: int = 0) -> None:
        with self.lock:
            c = self.container(ns, pod, container)
            c.state = state
            c.exit_code = code

    def drop_watch_after(self, events: int, *, compact: bool = False) -> None:
        """The watch stream that sends the next `events` events breaks after them (no final
        chunk). With `compact`, history up to there is compacted: resuming gets 410 Gone."""
        with self.lock:
            self._drop_after = events
            self._drop_compacts = compact

    def watch_versions(self) -> list[str | None]:
        """The `resourceVersion` of every watch request, in order."""
        return [q.get("resourceVersion") for m, p, q in self.requests if q.get("watch") == "true"]

    def count(self, method: str, path_suffix: str) -> int:
        return sum(
            1
            for m, p, q in self.requests
            if m == method and p.endswith(path_suffix) and q.get("watch") != "true"
        )

    # -- HTTP ------------------------------------------------------------------------------

    def app(self) -> Starlette:
        base = "/apis/{group}/{version}/namespaces/{ns}/{plural}"
        return Starlette(
            routes=[
                Route(base, self._collection, methods=["GET", "POST"]),
                Route(base + "/{name}", self._item, methods=["GET", "PATCH", "DELETE"]),
                Route("/api/v1/namespaces/{ns}/pods", self._pods, methods=["GET"]),
                Route("/api/v1/namespaces/{ns}/pods/{name}/log", self._log, methods=["GET"]),
                Route(
                    "/api/{version}/namespaces/{ns}/{plural}",
                    self._collection,
                    methods=["GET", "POST"],
                ),
                Route(
                    "/api/{version}/namespaces/{ns}/{plural}/{name}",
                    self._item,
                    methods=["GET", "PATCH", "DELETE"],
                ),
            ]
        )

    def _authorised(self, request: Request) -> Response | None:
        with self.lock:
            self.requests.append((request.method, request.url.path, dict(request.query_params)))
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token != self.token:
            return status_response(401, "Unauthorized", "Unauthorized")
        return None

    def _resource(self, request: Request) -> tuple[str, str, str] | None:
        p = request.path_params
        resource = (p.get("group", ""), p["version"], p["plural"])
        return resource if resource in KINDS and p["plural"] not in self.missing else None

    async def _collection(self, request: Request) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        resource = self._resource(request)
        if resource is None:
            return status_response(404, "NotFound", "the server could not find the resource")
        ns = request.path_params["ns"]
        if request.method == "POST":
            if resource == SECRETS and self.secrets_forbidden:
                return status_response(403, "Forbidden", 'cannot create resource "secrets"')
            return self._create(resource, ns, await request.json())
        query = request.query_params
        try:
            if query.get("watch") == "true":
                return self._watch(resource, ns, query)
            with self.lock:
                items = [
                    copy.deepcopy(obj)
                    for (res, ons, _), obj in self.objects.items()
                    if res == resource
                    and ons == ns
                    and matches_labels(obj, query.get("labelSelector"))
                    and matches_fields(obj, query.get("fieldSelector"))
                ]
                rv = self.rv
            items.sort(key=lambda obj: str(obj["metadata"]["name"]))  # etcd's key order
            items, metadata = page_of(items, query.get("limit"), query.get("continue"), rv)
        except ValueError as exc:
            return status_response(400, "BadRequest", str(exc))
        return JSONResponse(
            {
                "apiVersion": f"{resource[0]}/{resource[1]}",
                "kind": KINDS[resource] + "List",
                "metadata": metadata,
                "items": items,
            }
        )

    def _create(self, resource: tuple[str, str, str], ns: str, body: Any) -> Response:
        kind = KINDS[resource]
        if not isinstance(body, dict) or body.get("kind") != kind:
            return status_response(400, "BadRequest", f"expected a {kind}")
        validator = VALIDATORS.get(kind)
        if validator is not None:
            errors = [
                f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message[:200]}"
                for e in validator().iter_errors(body)
            ]
            if kind == "Secret" and not errors:
                errors = [e for e in [secret_too_large(body)] if e]
            if errors:
                status = status_body(422, "Invalid", f"{kind} is invalid: " + "; ".join(errors))
                self.rejected.append(status)
                return JSONResponse(status, status_code=422)
        meta = body.setdefault("metadata", {})
        if meta.get("namespace", ns) != ns:
            return status_response(400, "BadRequest", "namespace of the object differs")
        if not meta.get("name"):
            if not meta.get("generateName"):
                return status_response(422, "Invalid", "metadata.name: Required value")
            meta["name"] = meta["generateName"] + secrets.token_hex(3)
        with self.lock:
            if (resource, ns, meta["name"]) in self.objects:
                return status_response(409, "AlreadyExists", f"{meta['name']} already exists")
            created = self.put(resource, ns, body)
        return JSONResponse(created, status_code=201)

    async def _item(self, request: Request) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        resource = self._resource(request)
        if resource is None:
            return status_response(404, "NotFound", "the server could not find the resource")
        ns, name = request.path_params["ns"], request.path_params["name"]
        key = (resource, ns, name)
        with self.lock:
            current = self.objects.get(key)
            if current is None:
                return status_response(404, "NotFound", f'{KINDS[resource]} "{name}" not found')
            if request.method == "GET":
                return JSONResponse(copy.deepcopy(current))
        if request.method == "PATCH":
            if request.headers.get("content-type") != "application/merge-patch+json":
                return status_response(415, "UnsupportedMediaType", "merge patches only")
            patch = await request.json()
            with self.lock:
                patched = merge_patch(self.objects[key], patch)
                patched["metadata"]["name"] = name
                return JSONResponse(self.put(resource, ns, patched))
        if name in self.undeletable:
            return status_response(403, "Forbidden", f'cannot delete "{name}"')
        with self.lock:  # DELETE: the object, then what it owns (pods, TaskRuns)
            obj = self.objects.pop(key)
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._record(resource, ns, "DELETED", obj)
            owner_labels = {
                "workflows.argoproj.io/workflow",
                "tekton.dev/pipelineRun",
            }
            for pod_key, pod in list(self.pods.items()):
                if pod_key[0] == ns and any(pod.labels.get(k) == name for k in owner_labels):
                    del self.pods[pod_key]
            for other in list(self.objects):
                meta = self.objects[other]["metadata"]
                labels = meta.get("labels") or {}
                owners = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
                if other[1] == ns and (
                    labels.get("tekton.dev/pipelineRun") == name or obj["metadata"]["uid"] in owners
                ):
                    del self.objects[other]
        return JSONResponse(obj)

    def _watch(self, resource: tuple[str, str, str], ns: str, query: Any) -> Response:
        label_sel, field_sel = query.get("labelSelector"), query.get("fieldSelector")
        timeout = float(query.get("timeoutSeconds") or 1800)
        start = query.get("resourceVersion")
        with self.lock:
            if self.watch_forbidden:
                return status_response(403, "Forbidden", 'cannot watch resource "workflows"')
            if self.gone_http:
                self.gone_http -= 1
                self.gone_sent += 1
                return status_response(410, "Expired", f"too old resource version: {start}")

        async def stream() -> AsyncIterator[bytes]:
            gone = False
            with self.lock:
                self.watches_open += 1
                if start in (None, "", "0"):  # no version: the current state first
                    sent = self.rv
                    initial = [
                        Event(self.rv, resource, ns, "ADDED", copy.deepcopy(obj))
                        for (res, ons, _), obj in self.objects.items()
                        if res == resource and ons == ns
                    ]
                else:
                    sent, initial = int(start), []
                    if sent < self.compacted:
                        self.gone_sent += 1
                        gone = True
            try:
                if gone:
                    body = status_body(410, "Expired", f"too old resource version: {start}")
                    yield (json.dumps({"type": "ERROR", "object": body}) + "\n").encode()
                    return
                deadline = time.monotonic() + timeout
                pending = initial
                while True:
                    for event in pending:
                        if not (
                            matches_labels(event.obj, label_sel)
                            and matches_fields(event.obj, field_sel)
                        ):
                            continue
                        line = json.dumps({"type": event.type, "object": event.obj}) + "\n"
                        yield line.encode()
                        with self.lock:
                            if self._drop_after is not None:
                                self._drop_after -= 1
                                if self._drop_after <= 0:
                                    self._drop_after = None
                                    self.drops += 1
                                    if self._drop_compacts:
                                        self._compact(resource, ns, event.obj)
                                    raise ConnectionAbortedError("double: watch dropped")
                    if time.monotonic() >= deadline:
                        return
                    await asyncio.sleep(0.01)
                    with self.lock:
                        pending = [
                            e
                            for e in self.history
                            if e.rv > sent and e.resource == resource and e.namespace == ns
                        ]
                        if pending:
                            sent = pending[-1].rv
            finally:
                with self.lock:
                    self.watches_open -= 1

        return StreamingResponse(stream(), media_type="application/json")

    def _compact(self, resource: tuple[str, str, str], ns: str, obj: dict[str, Any]) -> None:
        """Forget history up to now; the object gets a new version (as an unrelated write
        would give it), so a GET returns a version that can be watched from."""
        name = obj["metadata"]["name"]
        if (resource, ns, name) in self.objects:
            self.update(resource, ns, name, lambda o: None)
        self.compacted = self.rv
        self.history = [e for e in self.history if e.rv >= self.compacted]

    async def _pods(self, request: Request) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        ns = request.path_params["ns"]
        if self.pods_forbidden:
            return status_response(403, "Forbidden", 'cannot list resource "pods"')
        selector = request.query_params.get("labelSelector")
        with self.lock:
            items = [
                pod.to_json()
                for (pns, _), pod in self.pods.items()
                if pns == ns and matches_labels(pod.to_json(), selector)
            ]
            rv = self.rv
        return JSONResponse(
            {
                "apiVersion": "v1",
                "kind": "PodList",
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            }
        )

    async def _log(self, request: Request) -> Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        ns, name = request.path_params["ns"], request.path_params["name"]
        query = request.query_params
        with self.lock:
            pod = self.pods.get((ns, name))
            if pod is None:
                return status_response(404, "NotFound", f'pods "{name}" not found')
            cname = query.get("container") or next(iter(pod.containers))
            container = pod.containers.get(cname)
            if container is None:
                return status_response(400, "BadRequest", f"container {cname} is not valid")
            if container.state == "waiting":
                message = f'container "{cname}" in pod "{name}" is waiting to start'
                return status_response(400, "BadRequest", message)
            limit = int(query.get("limitBytes") or 0) or None
            if query.get("follow") != "true":
                return Response(bytes(container.log[:limit]), media_type="text/plain")

        async def follow() -> AsyncIterator[bytes]:
            offset = 0
            while True:
                with self.lock:
                    chunk = bytes(container.log[offset:])
                    done = container.state == "terminated" or (ns, name) not in self.pods
                if chunk:
                    offset += len(chunk)
                    yield chunk
                if done:
                    return
                await asyncio.sleep(0.01)

        return StreamingResponse(follow(), media_type="text/plain")
