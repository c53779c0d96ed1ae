"""`gs://` stores against a GCS JSON API emulator (`gcp-storage-emulator`) on 127.0.0.1.

The store contract (`test_store.py`, `test_publish.py`) runs on `gs://` through the `store`
fixture's `gs` parameter (`conftest.py`), and what GCS shares with S3 in `test_buckets.py`;
this module holds what is GCS's own: credentials, signed links, endpoints. As in a pod, the
store gets nothing but the URL: the endpoint comes from `STORAGE_EMULATOR_HOST` and the
credentials from Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS` naming a
service-account key generated here, whose token endpoint is a local double that verifies the
signed JWT grant; `servers.py`).

Every request the emulator receives is checked against Google's discovery document of the JSON
API (`tests/data/gcs/storage.v1.json`): a real method's verb and path, and only the query
parameters that method defines. Signed URLs are checked against Google's V4 signing spec with
the key's public half (canonical request, string to sign, RSA-SHA256).

What the emulator does NOT check, so neither do these tests: authentication and authorization
(it accepts any or no `Authorization` header, and serves signed URLs without verifying the
signature or the expiry), IAM and ACLs, the bodies and headers of requests (only method, path
and query are checked), the parts inside batch requests, request rate limits and retries on 429
or 503, generation preconditions under concurrent writers, and GCS's exact error bodies.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from gcsfs.core import GCSFileSystem
from google.oauth2 import service_account

from foredeck.storage import ArtifactStore, open_store
from foredeck.storage.backend import MAX_PRESIGN_EXPIRES
from foredeck.storage.fsspec_store import FsspecStore
from tests.storage.gcs_double import JsonApi, Seen, json_api_violations
from tests.storage.servers import BUCKET, ROUTES, Gcs

# After each test: every request the emulator got was a JSON API call as Google defines it.
pytestmark = pytest.mark.usefixtures("json_api_checked")


def _prefix(gs_store: ArtifactStore) -> str:
    return gs_store.url.removeprefix(f"gs://{BUCKET}/")


def test_gs_url_opens_an_fsspec_store_with_default_credentials(
    gs_store: ArtifactStore, api: JsonApi, gcs: Gcs
) -> None:
    """No options: the endpoint is `STORAGE_EMULATOR_HOST`, the credentials are ADC (the
    service-account key), and requests carry the token the key's JWT grant obtained."""
    assert isinstance(gs_store, FsspecStore)
    # gcsfs's JSON API client, not its experimental gRPC layout-probing subclass.
    assert type(gs_store.fs) is GCSFileSystem
    assert isinstance(gs_store.fs.credentials.credentials, service_account.Credentials)
    assert gs_store.fs.credentials.credentials.service_account_email == gcs.key["client_email"]
    start = len(gcs.emulator.seen)
    gs_store.write_text("logs/job/1/build-log.txt", "hello")
    assert api.get(f"{_prefix(gs_store)}/logs/job/1/build-log.txt") == b"hello"
    ours = [s for s in gcs.emulator.since(start) if s.authorization]
    assert ours, "gcsfs sent no Authorization header"
    assert {s.authorization for s in ours} <= {f"Bearer {t}" for t in gcs.tokens.issued}


def _rfc3986(value: str) -> str:
    return quote(value, safe="-_.~")


def check_v4_signature(url: str, public_key: Any, client_email: str) -> dict[str, str]:
    """Rebuild the V4 canonical request and string to sign from `url` as Google documents them
    (cloud.google.com/storage/docs/authentication/canonical-requests and .../signatures) and
    verify `X-Goog-Signature` with the service account's public key. Returns the query."""
    parts = urlsplit(url)
    query = {k: v for k, [v] in parse_qs(parts.query, keep_blank_values=True).items()}
    signature = bytes.fromhex(query["X-Goog-Signature"])
    canonical_query = "&".join(
        f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in sorted(query.items()) if k != "X-Goog-Signature"
    )
    canonical_request = "\n".join(
        [
            "GET",
            parts.path,
            canonical_query,
            f"host:{parts.netloc}\n",
            query["X-Goog-SignedHeaders"],
            "UNSIGNED-PAYLOAD",
        ]
    )
    date = query["X-Goog-Date"]
    scope = f"{date[:8]}/auto/storage/goog4_request"
    assert query["X-Goog-Credential"] == f"{client_email}/{scope}"
    string_to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    return query


def test_url_for_signs_existing_objects(gs_store: ArtifactStore, gcs: Gcs) -> None:
    """Objects get a V4 signed GET link whose signature verifies over the canonical request;
    directories and missing objects keep the durable `gs://` URL."""
    name = "logs/job/1/build log+1.txt"  # characters the canonical path must encode
    gs_store.write_bytes(name, b"line 1\nline 2\n")

    url = gs_store.url_for(name)

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == gcs.endpoint
    assert parts.path == f"/{BUCKET}/{_prefix(gs_store)}/logs/job/1/build%20log%2B1.txt"
    query = check_v4_signature(url, gcs.public_key, gcs.key["client_email"])
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert query["X-Goog-Expires"] == "3600"
    assert query["X-Goog-SignedHeaders"] == "host"
    signed_at = datetime.strptime(query["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - signed_at) < timedelta(minutes=5)
    assert "PRIVATE KEY" not in url and gcs.key["private_key_id"] not in url
    response = httpx.get(url, timeout=10)  # the emulator serves it (it does not verify)
    assert response.status_code == 200
    assert response.content == b"line 1\nline 2\n"

    tampered = url.replace("build%20log%2B1.txt", "build%20log%2B2.txt")
    with pytest.raises(InvalidSignature):
        check_v4_signature(tampered, gcs.public_key, gcs.key["client_email"])

    assert gs_store.url_for("logs/job/1") == f"{gs_store.url}/logs/job/1"
    assert gs_store.url_for("logs/job/1/missing.txt") == f"{gs_store.url}/logs/job/1/missing.txt"
    assert gs_store.url_for("") == gs_store.url

    linked = open_store(gs_store.url, link_base="https://ci.example/artifacts/")
    assert linked.url_for("logs/job/1/a.txt") == "https://ci.example/artifacts/logs/job/1/a.txt"


def test_presigned_url_expiry_and_limits(gs_store: ArtifactStore, gcs: Gcs) -> None:
    assert isinstance(gs_store, FsspecStore)
    gs_store.write_bytes("a.txt", b"abc")
    url = gs_store.presigned_url("a.txt", expires=60)
    query = check_v4_signature(url, gcs.public_key, gcs.key["client_email"])
    assert query["X-Goog-Expires"] == "60"
    assert httpx.get(url, timeout=10).content == b"abc"
    other = gs_store.presigned_url("b.txt", expires=60)  # made offline; the object is not there
    assert httpx.get(other, timeout=10).status_code == 404
    for bad in [0, MAX_PRESIGN_EXPIRES + 1]:
        with pytest.raises(ValueError, match="between 1 and"):
            gs_store.presigned_url("a.txt", expires=bad)
    with pytest.raises(ValueError):
        gs_store.presigned_url("../escape.txt")


def test_credentials_that_cannot_sign_keep_the_gs_url(gcs: Gcs, api: JsonApi) -> None:
    """Anonymous (or metadata-server, e.g. Workload Identity) credentials hold no key: links
    stay `gs://` and asking for a signed one says why."""
    prefix = f"anon-{uuid.uuid4().hex}"
    store = open_store(f"gs://{BUCKET}/{prefix}", token="anon", skip_instance_cache=True)
    assert isinstance(store, FsspecStore)
    assert store.fs.credentials.credentials is None
    store.write_text("x.txt", "anonymous")
    assert api.get(f"{prefix}/x.txt") == b"anonymous"
    assert store.url_for("x.txt") == f"gs://{BUCKET}/{prefix}/x.txt"
    with pytest.raises(ValueError, match="cannot sign"):
        store.presigned_url("x.txt")


def test_presigning_needs_a_signing_store() -> None:
    memory = open_store(f"memory://foredeck-test-{uuid.uuid4().hex}")
    assert isinstance(memory, FsspecStore)
    with pytest.raises(ValueError, match="cannot presign links"):
        memory.presigned_url("a.txt")


@pytest.mark.parametrize("how", ["host:port", "option"])
def test_endpoint_from_environment_or_option(
    gcs: Gcs, api: JsonApi, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """`STORAGE_EMULATOR_HOST` may be a bare `host:port` (as gcloud's emulators print it), or
    an explicit `endpoint_url` option names the server; reads, writes and links all use it."""
    options: dict[str, Any] = {"skip_instance_cache": True}
    if how == "option":
        monkeypatch.delenv("STORAGE_EMULATOR_HOST")
        options["endpoint_url"] = gcs.endpoint
    else:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.endpoint.removeprefix("http://"))
    prefix = f"env-{uuid.uuid4().hex}"
    store = open_store(f"gs://{BUCKET}/{prefix}", **options)
    store.write_text("x.txt", "via endpoint")
    assert api.get(f"{prefix}/x.txt") == b"via endpoint"
    url = store.url_for("x.txt")
    assert url.startswith(gcs.endpoint + f"/{BUCKET}/")
    check_v4_signature(url, gcs.public_key, gcs.key["client_email"])
    assert httpx.get(url, timeout=10).content == b"via endpoint"


def test_the_json_api_check_flags_what_gcs_would_reject() -> None:
    """The per-test request check is not vacuous: calls GCS does not define are caught."""
    seen = [
        Seen("GET", "/storage/v1/b/bkt/o?prefix=a%2F&delimiter=%2F&maxResults=1000", None),
        Seen("POST", "/upload/storage/v1/b/bkt/o?uploadType=multipart", None),
        Seen("GET", "/download/storage/v1/b/bkt/o/a%2Fb.txt?alt=media", None),
        Seen("DELETE", "/storage/v1/b/bkt/o/a%2Fb.txt", None),
        Seen("GET", "/storage/v1/b/bkt/o/a%2Fb.txt?bogus=1", None),
        Seen("GET", "/storage/v1/b/bkt/o/a.txt?alt=xml", None),
        Seen("POST", "/storage/v1/b", None),  # buckets.insert needs ?project=
        Seen("PUT", "/storage/v1/b/bkt/o", None),
        Seen("GET", "/storage/v2/b/bkt/o", None),
    ]
    problems = json_api_violations(seen, ROUTES, "/batch/storage/v1")
    assert [p.split(":")[0] for p in problems] == [
        "GET /storage/v1/b/bkt/o/a%2Fb.txt?bogus=1",
        "GET /storage/v1/b/bkt/o/a.txt?alt=xml",
        "POST /storage/v1/b",
        "PUT /storage/v1/b/bkt/o",
        "GET /storage/v2/b/bkt/o",
    ]


def test_signed_links_for_google_point_at_its_endpoint(
    gcs: Gcs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without an emulator, links are `https://storage.googleapis.com/<bucket>/<object>`;
    signing is offline, so this makes no request (nothing here could answer one)."""
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(gcs.key))
    store = open_store("gs://prod-artifacts/ci", token=str(key_file), skip_instance_cache=True)
    assert isinstance(store, FsspecStore)
    start = len(gcs.emulator.seen)
    url = store.presigned_url("logs/job/1/build-log.txt", expires=600)
    assert url.startswith("https://storage.googleapis.com/prod-artifacts/ci/logs/job/1/")
    query = check_v4_signature(url, gcs.public_key, gcs.key["client_email"])
    assert query["X-Goog-Expires"] == "600"
    assert gcs.emulator.since(start) == []
