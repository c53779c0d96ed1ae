"""The object-store servers the storage tests run against, as pytest fixtures.

- `s3_endpoint`: moto's S3 server on a free port of 127.0.0.1, with the environment a pod would
  have (static credentials, no AWS config files, no instance metadata) and the endpoint given
  only through the standard `AWS_ENDPOINT_URL_S3`.
- `gcs`: gcp-storage-emulator and a Google token endpoint double (`gcs_double.py`), with the
  environment a pod would have: Application Default Credentials from a service-account key
  generated here (`GOOGLE_APPLICATION_CREDENTIALS`), no gcloud configuration, no metadata
  server, and `STORAGE_EMULATOR_HOST`. `json_api_checked` asserts after a test that every
  request the emulator got was a JSON API call as Google defines it.

Both are module-scoped: a test module starts each server at most once. `conftest.py` makes them
available to every storage test; other packages import the fixtures from here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import boto3
import pytest
import s3fs
from cryptography.hazmat.primitives import serialization
from gcsfs.core import GCSFileSystem
from gcsfs.credentials import GoogleCredentials
from google.auth.compute_engine import _metadata
from moto.server import ThreadedMotoServer

from foredeck.storage import ArtifactStore, open_store
from tests.storage.gcs_double import (
    Emulator,
    JsonApi,
    TokenEndpoint,
    create_bucket,
    json_api_violations,
    load_routes,
    service_account_key,
)

BUCKET = "foredeck-artifacts"
PROJECT = "foredeck-test"
ROUTES = load_routes()


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


class Gcs:
    """What the tests need to know about the running doubles."""

    def __init__(
        self, endpoint: str, emulator: Emulator, tokens: TokenEndpoint, key: dict[str, str]
    ) -> None:
        self.endpoint = endpoint
        self.emulator = emulator
        self.tokens = tokens
        self.key = key
        self.public_key = serialization.load_pem_public_key(tokens.public_pem)

    def check_requests(self, start: int) -> None:
        """Every request since `start` was a JSON API call, and no token grant was refused."""
        seen = self.emulator.since(start)
        assert json_api_violations(seen, ROUTES, "/batch/storage/v1") == []
        assert self.tokens.errors == []


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gcs]:
    """The emulator and token endpoint on free ports, and the environment a pod would have: a
    service-account key through `GOOGLE_APPLICATION_CREDENTIALS`, no gcloud configuration, no
    metadata server (never probed: the check is disabled), and `STORAGE_EMULATOR_HOST`."""
    home = tmp_path_factory.mktemp("gcloud")
    info, public_pem = service_account_key(PROJECT)
    tokens = TokenEndpoint(public_pem, info["client_email"])
    tokens.start()
    info["token_uri"] = tokens.url
    key_file = home / "key.json"
    key_file.write_text(json.dumps(info))
    emulator = Emulator()
    with pytest.MonkeyPatch.context() as mp:
        for name in ["GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"]:
            mp.delenv(name, raising=False)
        mp.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
        mp.setenv("CLOUDSDK_CONFIG", str(home / "gcloud"))  # no gcloud ADC file
        mp.setenv("NO_GCE_CHECK", "true")
        mp.setattr(_metadata, "_NO_GCE_CHECK", True)  # google-auth read the variable on import
        mp.setattr(GoogleCredentials, "tokens", {})  # no cached browser tokens from ~
        endpoint = emulator.start(mp)
        mp.setenv("STORAGE_EMULATOR_HOST", endpoint)
        GCSFileSystem.clear_instance_cache()
        create_bucket(endpoint, BUCKET, PROJECT)
        try:
            yield Gcs(endpoint, emulator, tokens, info)
        finally:
            GCSFileSystem.clear_instance_cache()
            emulator.stop()
            tokens.stop()


@pytest.fixture
def json_api_checked(gcs: Gcs) -> Iterator[None]:
    """After the test: every request the emulator got was a JSON API call as Google defines
    it, and no token grant was refused."""
    start = len(gcs.emulator.seen)
    yield
    gcs.check_requests(start)


@pytest.fixture
def api(gcs: Gcs) -> JsonApi:
    """A plain JSON API client: a second writer/reader that bypasses foredeck and gcsfs."""
    return JsonApi(gcs.endpoint, BUCKET)


@pytest.fixture
def s3_store(s3_endpoint: str) -> ArtifactStore:
    """An `s3://` store under a fresh prefix of the moto server's bucket."""
    return open_store(f"s3://{BUCKET}/t-{uuid.uuid4().hex}")


@pytest.fixture
def gs_store(gcs: Gcs) -> Iterator[ArtifactStore]:
    """A `gs://` store under a fresh prefix of the emulator's bucket; its requests are checked
    against the JSON API afterwards."""
    start = len(gcs.emulator.seen)
    yield open_store(f"gs://{BUCKET}/t-{uuid.uuid4().hex}")
    gcs.check_requests(start)


class S3Bucket:
    """A plain boto3 client on one bucket, with `JsonApi`'s methods: the other writer and
    reader of the tests, bypassing foredeck and s3fs."""

    def __init__(self, bucket: str = BUCKET) -> None:
        self.client = boto3.client("s3")
        self.bucket = bucket

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def keys(self, prefix: str) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))
