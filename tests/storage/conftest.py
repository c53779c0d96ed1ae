"""Every store test runs against each back end: a local directory and fsspec's memory filesystem."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from foredeck.storage import ArtifactStore, open_store
from foredeck.storage.fsspec_store import FsspecStore


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "file":
        yield open_store(f"file://{tmp_path / 'store'}")
        return
    # The memory filesystem is process-global: a unique root keeps tests apart.
    root = f"memory://foredeck-test-{uuid.uuid4().hex}"
    opened = open_store(root)
    yield opened
    assert isinstance(opened, FsspecStore)
    if opened.fs.exists(opened.root):
        opened.fs.rm(opened.root, recursive=True)
