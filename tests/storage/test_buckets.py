"""What S3 and GCS stores share beyond the contract: the keys a plain client of the bucket sees,
writes by other clients, a store at a bucket's root. Each test runs on both (`bucket`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from foredeck.storage import ArtifactStore, open_store
from foredeck.storage.layout import job_paths
from foredeck.storage.publish import publish_run
from tests.storage.gcs_double import create_bucket
from tests.storage.helpers import make_run, presubmit_keys
from tests.storage.servers import BUCKET, PROJECT, Gcs, S3Bucket


class Client(Protocol):
    """A plain client of the store's bucket (boto3 or the JSON API), bypassing foredeck."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def keys(self, prefix: str) -> list[str]: ...


@dataclass
class Bucket:
    scheme: str
    store: ArtifactStore  # under a fresh prefix of BUCKET
    client: Client
    prefix: str


@pytest.fixture(params=["s3", "gs"])
def bucket(request: pytest.FixtureRequest) -> Bucket:
    store: ArtifactStore = request.getfixturevalue(f"{request.param}_store")
    client: Client = S3Bucket() if request.param == "s3" else request.getfixturevalue("api")
    prefix = store.url.removeprefix(f"{request.param}://{BUCKET}/")
    return Bucket(request.param, store, client, prefix)


def test_publish_lays_out_prow_keys_in_the_bucket(bucket: Bucket, tmp_path: Path) -> None:
    store, prefix = bucket.store, bucket.prefix
    build = "1800000000000000001"
    paths = job_paths("presubmit", "org", "repo", 7, "pull-e2e", build)
    publish_run(store, paths, make_run(tmp_path, build))

    keys = [k.removeprefix(prefix + "/") for k in bucket.client.keys(prefix + "/")]
    run = f"pr-logs/pull/org_repo/7/pull-e2e/{build}"
    assert keys == presubmit_keys(build)
    alias = store.read_bytes(f"pr-logs/directory/pull-e2e/{build}.txt").decode()
    assert alias == f"{bucket.scheme}://{BUCKET}/{prefix}/{run}"
    latest = f"{prefix}/pr-logs/pull/org_repo/7/pull-e2e/latest-build.txt"
    assert bucket.client.get(latest) == build.encode()


def test_writes_by_other_clients_are_seen_at_once(bucket: Bucket) -> None:
    """s3fs caches listings forever, gcsfs for a while; another process publishing into the
    bucket must still be visible to the dashboard's next listing."""
    store, prefix, client = bucket.store, bucket.prefix, bucket.client
    store.write_text("logs/job/1/started.json", "{}")
    assert [e.path for e in store.list("logs/job")] == ["logs/job/1"]
    assert not store.exists("logs/job/2/started.json")

    client.put(f"{prefix}/logs/job/2/started.json", b"{}")
    client.put(f"{prefix}/logs/job/latest-build.txt", b"2")

    assert [e.path for e in store.list("logs/job")] == [
        "logs/job/1",
        "logs/job/2",
        "logs/job/latest-build.txt",
    ]
    assert store.exists("logs/job/2/started.json")
    assert store.read_bytes("logs/job/latest-build.txt") == b"2"

    client.delete(f"{prefix}/logs/job/2/started.json")
    assert not store.exists("logs/job/2/started.json")
    assert [e.path for e in store.list("logs/job")] == ["logs/job/1", "logs/job/latest-build.txt"]


def test_bucket_root_store(bucket: Bucket, request: pytest.FixtureRequest) -> None:
    name = f"root-{uuid.uuid4().hex[:12]}"
    if bucket.scheme == "s3":
        S3Bucket().client.create_bucket(Bucket=name)
    else:
        gcs: Gcs = request.getfixturevalue("gcs")
        create_bucket(gcs.endpoint, name, PROJECT)
    store = open_store(f"{bucket.scheme}://{name}")
    store.write_text("logs/job/1/build-log.txt", "x")
    assert [e.path for e in store.list("", recursive=True)] == ["logs/job/1/build-log.txt"]
    assert httpx.get(store.url_for("logs/job/1/build-log.txt"), timeout=10).content == b"x"
    assert store.delete_prefix("logs") == 1
    assert store.list("") == []
