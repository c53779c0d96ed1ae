"""`s3://` stores against a real S3 protocol server (moto) on 127.0.0.1.

The store contract (`test_store.py`, `test_publish.py`) runs on `s3://` through the `store`
fixture's `s3` parameter (`conftest.py`), and what S3 shares with GCS in `test_buckets.py`;
this module holds what is S3's own: presigned links and endpoints. The endpoint reaches s3fs and the
presigner only through the standard `AWS_ENDPOINT_URL_S3` variable, as in a deployment
(`servers.py`).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
import s3fs

from foredeck.storage import ArtifactStore, open_store
from foredeck.storage.backend import MAX_PRESIGN_EXPIRES
from foredeck.storage.fsspec_store import FsspecStore
from tests.storage.servers import BUCKET


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    """A plain boto3 client: a second writer/reader that bypasses foredeck and s3fs."""
    return boto3.client("s3")


def _prefix(s3_store: ArtifactStore) -> str:
    return s3_store.url.removeprefix(f"s3://{BUCKET}/")


def test_s3_url_opens_an_fsspec_store_on_the_endpoint(s3_store: ArtifactStore, s3: Any) -> None:
    assert isinstance(s3_store, FsspecStore)
    assert isinstance(s3_store.fs, s3fs.S3FileSystem)
    s3_store.write_text("logs/job/1/build-log.txt", "hello")
    key = f"{_prefix(s3_store)}/logs/job/1/build-log.txt"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"hello"


def test_url_for(s3_store: ArtifactStore, tmp_path: Path) -> None:
    """Objects get a presigned SigV4 GET link that serves the bytes; directories and missing
    objects keep the durable storage URL (what the controller records as a job's URL)."""
    s3_store.write_bytes("logs/job/1/build-log.txt", b"line 1\nline 2\n")

    url = s3_store.url_for("logs/job/1/build-log.txt")

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == f"/{BUCKET}/{_prefix(s3_store)}/logs/job/1/build-log.txt"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["3600"]
    assert "X-Amz-Signature" in query
    assert "foredeck-test-secret" not in url
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"line 1\nline 2\n"

    assert s3_store.url_for("logs/job/1") == f"{s3_store.url}/logs/job/1"
    assert s3_store.url_for("logs/job/1/missing.txt") == f"{s3_store.url}/logs/job/1/missing.txt"
    assert s3_store.url_for("") == s3_store.url

    linked = open_store(s3_store.url, link_base="https://ci.example/artifacts/")
    assert linked.url_for("logs/job/1/build-log.txt") == (
        "https://ci.example/artifacts/logs/job/1/build-log.txt"
    )


def test_presigned_url_expiry_and_limits(s3_store: ArtifactStore) -> None:
    assert isinstance(s3_store, FsspecStore)
    s3_store.write_bytes("a.txt", b"abc")
    url = s3_store.presigned_url("a.txt", expires=60)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["60"]
    assert httpx.get(url, timeout=10).content == b"abc"
    other = s3_store.presigned_url("b.txt", expires=60)  # made offline; the object is not there
    assert httpx.get(other, timeout=10).status_code == 404
    for bad in [0, MAX_PRESIGN_EXPIRES + 1]:
        with pytest.raises(ValueError, match="between 1 and"):
            s3_store.presigned_url("a.txt", expires=bad)
    with pytest.raises(ValueError):
        s3_store.presigned_url("../escape.txt")


def test_presigning_needs_s3() -> None:
    memory = open_store(f"memory://foredeck-test-{uuid.uuid4().hex}")
    assert isinstance(memory, FsspecStore)
    with pytest.raises(ValueError, match="only s3:// stores"):
        memory.presigned_url("a.txt")


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", None])
def test_endpoint_from_environment_or_option(
    s3_endpoint: str, s3: Any, monkeypatch: pytest.MonkeyPatch, variable: str | None
) -> None:
    """Any S3-compatible endpoint: the service-specific or the generic AWS variable, or an
    explicit `endpoint_url` option; reads, writes and presigned links all use it."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    options: dict[str, Any] = {"skip_instance_cache": True}
    if variable is None:
        options["endpoint_url"] = s3_endpoint
    else:
        monkeypatch.setenv(variable, s3_endpoint)
    prefix = f"env-{uuid.uuid4().hex}"
    store = open_store(f"s3://{BUCKET}/{prefix}", **options)
    store.write_text("x.txt", "via endpoint")
    assert s3.get_object(Bucket=BUCKET, Key=f"{prefix}/x.txt")["Body"].read() == b"via endpoint"
    url = store.url_for("x.txt")
    assert url.startswith(s3_endpoint + "/")
    assert httpx.get(url, timeout=10).content == b"via endpoint"
