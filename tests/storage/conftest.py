"""The store contract runs against every back end: one `store` fixture, parametrised.

`file://` (a local directory), `memory://` (fsspec's in-process filesystem), `s3://` (moto's
S3 server) and `gs://` (the GCS emulator). A test that takes `store` is a contract test: every
back end must pass it. Back-end specific tests take `s3_store` / `gs_store` (`servers.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from foredeck.storage import ArtifactStore, open_store
from foredeck.storage.fsspec_store import FsspecStore
from tests.storage.servers import (  # noqa: F401  (fixtures for every storage test)
    api,
    gcs,
    gs_store,
    json_api_checked,
    s3_endpoint,
    s3_store,
)


@pytest.fixture(params=["file", "memory", "s3", "gs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "file":
        yield open_store(f"file://{tmp_path / 'store'}")
    elif request.param == "memory":
        # The memory filesystem is process-global: a unique root keeps tests apart.
        opened = open_store(f"memory://foredeck-test-{uuid.uuid4().hex}")
        yield opened
        assert isinstance(opened, FsspecStore)
        if opened.fs.exists(opened.root):
            opened.fs.rm(opened.root, recursive=True)
    else:
        yield request.getfixturevalue(f"{request.param}_store")
