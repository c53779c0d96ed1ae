"""Doubles for the `gs://` tests: the GCS emulator and a Google OAuth token endpoint on 127.0.0.1.

- `Emulator` runs `gcp-storage-emulator` (a GCS JSON API server) in-process on a free port and
  records every request it receives; `json_api_violations` checks those requests against Google's
  own discovery document for the JSON API (`tests/data/gcs/storage.v1.json`): method and path of
  a real API method, and only query parameters that method (or the API globally) defines.
- `TokenEndpoint` plays `https://oauth2.googleapis.com/token` for a generated service-account
  key (the RFC 7523 JWT-bearer grant google-auth sends): it verifies the assertion's RS256
  signature with the key's public half and its audience and scope, then hands out a token.
- `JsonApi` is a plain second client (httpx on the JSON API), bypassing foredeck and gcsfs.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gcp_storage_emulator import server as emulator_server

DISCOVERY = Path(__file__).parents[1] / "data" / "gcs" / "storage.v1.json"
DEVSTORAGE_SCOPE = "https://www.googleapis.com/auth/devstorage.full_control"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
"""The `aud` of a service account's grant, whatever `token_uri` the key names (Google's spec)."""


@dataclass(frozen=True)
class Seen:
    """One request as it arrived at the emulator (the raw request target, not yet decoded)."""

    method: str
    target: str
    authorization: str | None


class Emulator:
    """gcp-storage-emulator on 127.0.0.1 (in memory), recording each request it serves."""

    def __init__(self) -> None:
        self.server = emulator_server.create_server("127.0.0.1", 0, in_memory=True)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def start(self, mp: Any) -> str:
        original = emulator_server.Router.handle
        seen, lock = self.seen, self._lock

        def recording(router: Any, method: str) -> None:
            handler = router._request_handler
            override = handler.headers.get("x-http-method-override")
            with lock:
                seen.append(
                    Seen(override or method, handler.path, handler.headers.get("Authorization"))
                )
            original(router, method)

        mp.setattr(emulator_server.Router, "handle", recording)
        self.server.start()
        httpd = self.server._api._httpd
        default_handle_error = httpd.handle_error

        def handle_error(request: Any, client_address: Any) -> None:
            # gcsfs looks an object up and lists its prefix at once and drops the slower reply:
            # the emulator then writes to a closed socket. Anything else is still printed.
            if not isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
                default_handle_error(request, client_address)

        httpd.handle_error = handle_error
        port = httpd.server_port  # bound to port 0: the kernel picked it
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.stop()

    def since(self, index: int) -> list[Seen]:
        with self._lock:
            return list(self.seen[index:])


@dataclass
class TokenEndpoint:
    """A Google OAuth 2.0 token endpoint for one service account (JWT-bearer grant only)."""

    public_pem: bytes
    client_email: str
    url: str = ""
    issued: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                try:
                    token = endpoint.grant(form)
                except Exception as error:  # the test fails on any error recorded here
                    endpoint.errors.append(repr(error))
                    self._reply(400, {"error": "invalid_grant", "error_description": str(error)})
                    return
                self._reply(
                    200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
                )

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/token"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def grant(self, form: dict[str, list[str]]) -> str:
        if form.get("grant_type") != [JWT_BEARER]:
            raise ValueError(f"unexpected grant_type {form.get('grant_type')}")
        [assertion] = form["assertion"]
        claims = jwt.decode(
            assertion,
            self.public_pem,
            algorithms=["RS256"],
            audience=GOOGLE_TOKEN_AUDIENCE,
            issuer=self.client_email,
        )
        if DEVSTORAGE_SCOPE not in str(claims.get("scope", "")).split():
            raise ValueError(f"token asked for scope {claims.get('scope')!r}")
        token = f"ya29.test-{secrets.token_hex(8)}"
        self.issued.append(token)
        return token

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def service_account_key(project: str, token_uri: str = "") -> tuple[dict[str, str], bytes]:
    """A fresh service-account JSON key (as `gcloud iam service-accounts keys create` writes
    one) and the PEM of its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": f"foredeck-ci@{project}.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "universe_domain": "googleapis.com",
    }
    return info, public_pem


class JsonApi:
    """A plain JSON API client for one bucket: the other writer and reader of the tests."""

    def __init__(self, endpoint: str, bucket: str) -> None:
        self.base = endpoint
        self.bucket = bucket

    def _object(self, key: str) -> str:
        return f"{self.base}/storage/v1/b/{self.bucket}/o/{quote(key, safe='')}"

    def put(self, key: str, data: bytes) -> None:
        response = httpx.post(
            f"{self.base}/upload/storage/v1/b/{self.bucket}/o",
            params={"uploadType": "media", "name": key},
            content=data,
            timeout=10,
        )
        response.raise_for_status()

    def get(self, key: str) -> bytes:
        response = httpx.get(self._object(key), params={"alt": "media"}, timeout=10)
        response.raise_for_status()
        return response.content

    def delete(self, key: str) -> None:
        httpx.delete(self._object(key), timeout=10).raise_for_status()

    def keys(self, prefix: str) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            params = {"prefix": prefix, **({"pageToken": token} if token else {})}
            response = httpx.get(
                f"{self.base}/storage/v1/b/{self.bucket}/o", params=params, timeout=10
            )
            response.raise_for_status()
            page = response.json()
            names += [item["name"] for item in page.get("items", [])]
            token = page.get("nextPageToken")
            if not token:
                return sorted(names)


def create_bucket(endpoint: str, bucket: str, project: str) -> None:
    response = httpx.post(
        f"{endpoint}/storage/v1/b", params={"project": project}, json={"name": bucket}, timeout=10
    )
    response.raise_for_status()


@dataclass(frozen=True)
class _Route:
    name: str
    method: str
    pattern: re.Pattern[str]
    params: frozenset[str]
    required: frozenset[str]
    enums: dict[str, frozenset[str]]


def _methods(resource: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for name, method in resource.get("methods", {}).items():
        yield f"{prefix}{name}", method
    for name, sub in resource.get("resources", {}).items():
        yield from _methods(sub, f"{prefix}{name}.")


def _path_regex(template: str) -> str:
    """A discovery path template as a regex over the raw (percent-encoded) request path: a
    `{param}` is one encoded segment, `{+param}` may span several."""
    out, pos = [], 0
    for match in re.finditer(r"\{(\+?)(\w+)\}", template):
        out.append(re.escape(template[pos : match.start()]))
        out.append(".+" if match.group(1) else "[^/]+")
        pos = match.end()
    out.append(re.escape(template[pos:]))
    return "".join(out)


def load_routes() -> list[_Route]:
    doc = json.loads(DISCOVERY.read_text())
    service = "/" + doc["servicePath"].strip("/") + "/"
    global_params = set(doc["parameters"])
    routes: list[_Route] = []
    for name, method in _methods(doc):
        query = {k: v for k, v in method.get("parameters", {}).items() if v["location"] == "query"}
        params = frozenset(global_params | set(query))
        required = frozenset(k for k, v in query.items() if v.get("required"))
        enums = {k: frozenset(v["enum"]) for k, v in query.items() if "enum" in v}
        enums["alt"] = frozenset(doc["parameters"]["alt"]["enum"])
        paths = [service + method["path"]]
        if method.get("useMediaDownloadService"):
            paths.append("/download" + service + method["path"])
        for path in paths:
            pattern = re.compile(_path_regex(path))
            routes.append(_Route(name, method["httpMethod"], pattern, params, required, enums))
        for protocol, upload in method.get("mediaUpload", {}).get("protocols", {}).items():
            pattern = re.compile(_path_regex(upload["path"]))
            routes.append(
                _Route(
                    f"{name} ({protocol} upload)",
                    method["httpMethod"],
                    pattern,
                    params,
                    required,
                    enums,
                )
            )
            if protocol == "simple":
                # The documented resumable flow starts at the simple path with
                # uploadType=resumable and continues with PUTs carrying upload_id.
                routes.append(
                    _Route(
                        f"{name} (resumable upload)",
                        "PUT",
                        pattern,
                        params | {"upload_id"},
                        required,
                        enums,
                    )
                )
    return routes


def json_api_violations(seen: list[Seen], routes: list[_Route], batch_path: str) -> list[str]:
    """Requests that are not calls of the GCS JSON API as its discovery document defines it.

    Two kinds are checked elsewhere and skipped here: signed-URL GETs (the XML API, carrying
    `X-Goog-Signature`; the signing tests check those) and the parts inside a batch request body
    (only the batch envelope's path is checked).
    """
    problems: list[str] = []
    for request in seen:
        parts = urlsplit(request.target)
        query = parse_qs(parts.query, keep_blank_values=True)
        if "X-Goog-Signature" in query:
            continue
        if request.method == "POST" and parts.path == batch_path:
            continue
        candidates = [
            r for r in routes if r.method == request.method and r.pattern.fullmatch(parts.path)
        ]
        if not candidates:
            problems.append(f"{request.method} {parts.path}: no such JSON API method")
            continue
        errors: list[str] = []
        for route in candidates:
            unknown = set(query) - route.params
            missing = route.required - set(query)
            bad = [
                k
                for k, values in query.items()
                if k in route.enums and not set(values) <= route.enums[k]
            ]
            if not unknown and not missing and not bad:
                break
            errors.append(
                f"{route.name}: unknown {sorted(unknown)}, missing {sorted(missing)}, bad {bad}"
            )
        else:
            problems.append(f"{request.method} {request.target}: " + "; ".join(errors))
    return problems
