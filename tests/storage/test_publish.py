from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from foredeck.storage import ArtifactStore
from foredeck.storage.layout import job_paths
from foredeck.storage.local import LocalStore
from foredeck.storage.publish import publish_run
from tests.storage.helpers import make_run


class RecordingStore:
    """Wraps a store and notes the order of writes, to check what a reader could observe."""

    def __init__(self, inner: ArtifactStore) -> None:
        self.inner = inner
        self.url = inner.url
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upload_file(self, local_path: Path, path: str) -> None:
        self.writes.append(path)
        self.inner.upload_file(local_path, path)

    def write_text(self, path: str, text: str) -> None:
        self.writes.append(path)
        self.inner.write_text(path, text)


def test_presubmit_publish_order_and_pointers(store: ArtifactStore, tmp_path: Path) -> None:
    paths = job_paths("presubmit", "org", "repo", 12, "pull-unit", "1800000000000000001")
    recording = RecordingStore(store)

    result = publish_run(recording, paths, make_run(tmp_path))

    build = "pr-logs/pull/org_repo/12/pull-unit/1800000000000000001"
    writes = recording.writes
    assert writes[0] == f"{build}/started.json"
    assert writes[-4] == f"{build}/finished.json"
    assert writes[-3:] == [
        "pr-logs/directory/pull-unit/1800000000000000001.txt",
        "pr-logs/directory/pull-unit/latest-build.txt",
        "pr-logs/pull/org_repo/12/pull-unit/latest-build.txt",
    ]
    assert len(result.uploaded) == 7
    assert store.read_bytes(f"{build}/artifacts/junit/junit_01.xml") == b"<testsuite/>"
    assert store.read_bytes("pr-logs/directory/pull-unit/latest-build.txt") == (
        b"1800000000000000001"
    )
    alias = store.read_bytes("pr-logs/directory/pull-unit/1800000000000000001.txt").decode()
    assert alias == store.url.rstrip("/") + "/" + build
    assert result.latest_build_updated == list(paths.latest_build)


def test_latest_build_only_moves_forward(store: ArtifactStore, tmp_path: Path) -> None:
    newer = publish_run(store, "logs/ci-job/200", make_run(tmp_path, "200"))
    older = publish_run(store, "logs/ci-job/100", make_run(tmp_path, "100"))
    assert newer.latest_build_updated == ["logs/ci-job/latest-build.txt"]
    assert older.latest_build_updated == []
    assert store.read_bytes("logs/ci-job/latest-build.txt") == b"200"
    assert store.read_bytes("logs/ci-job/100/finished.json") == b"finished.json of 100"
    assert publish_run(store, "logs/ci-job/300", make_run(tmp_path, "300")).latest_build_updated
    assert store.read_bytes("logs/ci-job/latest-build.txt") == b"300"


def test_bad_targets_upload_nothing(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="<job dir>/<build id>"):
        publish_run(store, "justone", make_run(tmp_path))
    with pytest.raises(ValueError):
        publish_run(store, "../logs/x/1", make_run(tmp_path))
    with pytest.raises(NotADirectoryError):
        publish_run(store, "logs/x/1", tmp_path / "missing")
    assert store.list("", recursive=True) == []


def test_the_executors_scratch_is_not_published(store: ArtifactStore, tmp_path: Path) -> None:
    """`.work/` (checkouts, build trees, step scripts) is scratch: it never reaches the store,
    while a nested directory of the same name inside artifacts/ is output like any other."""
    out = make_run(tmp_path)
    (out / ".work" / "scripts").mkdir(parents=True)
    (out / ".work" / "scripts" / "abc").write_text("#!/bin/sh\n")
    (out / "artifacts" / "build" / ".work").mkdir(parents=True)
    (out / "artifacts" / "build" / ".work" / "kept.txt").write_text("output")
    paths = job_paths("postsubmit", "org", "repo", None, "post-build", "1800000000000000009")
    result = publish_run(store, paths, out)
    assert not [p for p in result.uploaded if "/.work/scripts" in p]
    build = "logs/post-build/1800000000000000009"
    assert store.read_bytes(f"{build}/artifacts/build/.work/kept.txt") == b"output"


def test_publishing_with_link_shares_the_files_of_a_local_store(tmp_path: Path) -> None:
    local = LocalStore(tmp_path / "store")
    out = make_run(tmp_path)
    result = publish_run(local, "logs/job/9", out, link=True)
    assert "logs/job/9/build-log.txt" in result.uploaded
    for rel in ("build-log.txt", "artifacts/junit/junit_01.xml"):
        assert os.path.samefile(local.root / "logs" / "job" / "9" / rel, out / rel)
    assert (local.root / "logs" / "job" / "latest-build.txt").read_text() == "9"
