"""`s3://` stores against a real S3 protocol server (moto) on 127.0.0.1.

The store contract and publish tests of `test_store.py` / `test_publish.py` are imported and run
here again with this module's `store` fixture (an `s3://` store under a fresh prefix), so S3 is
held to exactly the contract the local and memory stores pass. The endpoint reaches s3fs and the
presigner only through the standard `AWS_ENDPOINT_URL_S3` variable, as in a deployment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
import s3fs
from moto.server import ThreadedMotoServer

from foredeck.storage import ArtifactStore, open_store
from foredeck.storage.backend import MAX_PRESIGN_EXPIRES
from foredeck.storage.fsspec_store import FsspecStore
from foredeck.storage.layout import job_paths
from foredeck.storage.publish import publish_run
from tests.storage.test_publish import (  # noqa: F401  (collected again with the S3 fixture)
    make_run,
    presubmit_keys,
    test_bad_targets_upload_nothing,
    test_latest_build_only_moves_forward,
    test_presubmit_publish_order_and_pointers,
    test_the_executors_scratch_is_not_published,
)
from tests.storage.test_store import (  # noqa: F401  (collected again with the S3 fixture)
    test_delete_prefix,
    test_every_method_rejects_unsafe_paths,
    test_failed_open_write_keeps_previous_object,
    test_is_an_artifact_store,
    test_list,
    test_missing_objects_raise,
    test_open_write_streams,
    test_read_range,
    test_upload_dir_and_file,
    test_upload_dir_skips_symlinks,
    test_upload_dir_with_unstorable_name_writes_nothing,
    test_write_and_read,
)

BUCKET = "foredeck-artifacts"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on a free port, with the environment a pod would have (no AWS config
    files, no instance metadata): static credentials and `AWS_ENDPOINT_URL_S3`."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    nowhere = tmp_path_factory.mktemp("aws") / "absent"
    with pytest.MonkeyPatch.context() as mp:
        for name in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"]:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "foredeck-test")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "foredeck-test-secret")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_CONFIG_FILE", str(nowhere))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        s3fs.S3FileSystem.clear_instance_cache()
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        try:
            yield endpoint
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            server.stop()


@pytest.fixture
def s3() -> Any:
    """A plain boto3 client: a second writer/reader that bypasses foredeck and s3fs."""
    return boto3.client("s3")


@pytest.fixture
def store(s3_endpoint: str) -> ArtifactStore:
    return open_store(f"s3://{BUCKET}/t-{uuid.uuid4().hex}")


def _prefix(store: ArtifactStore) -> str:
    return store.url.removeprefix(f"s3://{BUCKET}/")


def test_s3_url_opens_an_fsspec_store_on_the_endpoint(store: ArtifactStore, s3: Any) -> None:
    assert isinstance(store, FsspecStore)
    assert isinstance(store.fs, s3fs.S3FileSystem)
    store.write_text("logs/job/1/build-log.txt", "hello")
    key = f"{_prefix(store)}/logs/job/1/build-log.txt"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"hello"


def test_publish_lays_out_prow_keys_in_the_bucket(
    store: ArtifactStore, s3: Any, tmp_path: Path
) -> None:
    build = "1800000000000000001"
    paths = job_paths("presubmit", "org", "repo", 7, "pull-e2e", build)
    publish_run(store, paths, make_run(tmp_path, build))

    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=_prefix(store) + "/")
    keys = sorted(o["Key"].removeprefix(_prefix(store) + "/") for o in listed["Contents"])
    run = f"pr-logs/pull/org_repo/7/pull-e2e/{build}"
    assert keys == presubmit_keys(build)
    alias = store.read_bytes(f"pr-logs/directory/pull-e2e/{build}.txt").decode()
    assert alias == f"s3://{BUCKET}/{_prefix(store)}/{run}"
    latest = f"{_prefix(store)}/pr-logs/pull/org_repo/7/pull-e2e/latest-build.txt"
    assert s3.get_object(Bucket=BUCKET, Key=latest)["Body"].read() == build.encode()


def test_url_for(store: ArtifactStore, tmp_path: Path) -> None:
    """Objects get a presigned SigV4 GET link that serves the bytes; directories and missing
    objects keep the durable storage URL (what the controller records as a job's URL)."""
    store.write_bytes("logs/job/1/build-log.txt", b"line 1\nline 2\n")

    url = store.url_for("logs/job/1/build-log.txt")

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == f"/{BUCKET}/{_prefix(store)}/logs/job/1/build-log.txt"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["3600"]
    assert "X-Amz-Signature" in query
    assert "foredeck-test-secret" not in url
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"line 1\nline 2\n"

    assert store.url_for("logs/job/1") == f"{store.url}/logs/job/1"
    assert store.url_for("logs/job/1/missing.txt") == f"{store.url}/logs/job/1/missing.txt"
    assert store.url_for("") == store.url

    linked = open_store(store.url, link_base="https://ci.example/artifacts/")
    assert linked.url_for("logs/job/1/build-log.txt") == (
        "https://ci.example/artifacts/logs/job/1/build-log.txt"
    )


def test_presigned_url_expiry_and_limits(store: ArtifactStore) -> None:
    assert isinstance(store, FsspecStore)
    store.write_bytes("a.txt", b"abc")
    url = store.presigned_url("a.txt", expires=60)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["60"]
    assert httpx.get(url, timeout=10).content == b"abc"
    other = store.presigned_url("b.txt", expires=60)  # made offline; the object is not there
    assert httpx.get(other, timeout=10).status_code == 404
    for bad in [0, MAX_PRESIGN_EXPIRES + 1]:
        with pytest.raises(ValueError, match="between 1 and"):
            store.presigned_url("a.txt", expires=bad)
    with pytest.raises(ValueError):
        store.presigned_url("../escape.txt")


def test_presigning_needs_s3() -> None:
    memory = open_store(f"memory://foredeck-test-{uuid.uuid4().hex}")
    assert isinstance(memory, FsspecStore)
    with pytest.raises(ValueError, match="only s3:// stores"):
        memory.presigned_url("a.txt")


def test_writes_by_other_clients_are_seen_at_once(store: ArtifactStore, s3: Any) -> None:
    """s3fs caches listings forever; another process publishing into the bucket must still be
    visible to the dashboard's next listing."""
    store.write_text("logs/job/1/started.json", "{}")
    assert [e.path for e in store.list("logs/job")] == ["logs/job/1"]
    assert not store.exists("logs/job/2/started.json")

    s3.put_object(Bucket=BUCKET, Key=f"{_prefix(store)}/logs/job/2/started.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key=f"{_prefix(store)}/logs/job/latest-build.txt", Body=b"2")

    assert [e.path for e in store.list("logs/job")] == [
        "logs/job/1",
        "logs/job/2",
        "logs/job/latest-build.txt",
    ]
    assert store.exists("logs/job/2/started.json")
    assert store.read_bytes("logs/job/latest-build.txt") == b"2"

    s3.delete_object(Bucket=BUCKET, Key=f"{_prefix(store)}/logs/job/2/started.json")
    assert not store.exists("logs/job/2/started.json")
    assert [e.path for e in store.list("logs/job")] == ["logs/job/1", "logs/job/latest-build.txt"]


def test_bucket_root_store(s3_endpoint: str, s3: Any) -> None:
    bucket = f"root-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    store = open_store(f"s3://{bucket}")
    store.write_text("logs/job/1/build-log.txt", "x")
    assert [e.path for e in store.list("", recursive=True)] == ["logs/job/1/build-log.txt"]
    assert httpx.get(store.url_for("logs/job/1/build-log.txt"), timeout=10).content == b"x"
    assert store.delete_prefix("logs") == 1
    assert store.list("") == []


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
