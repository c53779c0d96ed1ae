"""What only the `file://` store has to get right itself: rename atomicity, symlinks, big files."""

from __future__ import annotations

import os
import stat
import threading
import tracemalloc
from pathlib import Path

import pytest

from foredeck.storage import open_store
from foredeck.storage.backend import TMP_MARK
from foredeck.storage.local import LocalStore


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    store = open_store(f"file://{tmp_path / 'root'}")
    assert isinstance(store, LocalStore)
    return store


def test_latest_build_is_never_seen_half_written(local: LocalStore) -> None:
    # Contents of very different sizes make a torn write easy to spot.
    values = [str(10**18 + i) + ("\n" if i % 2 else "x" * 200_000) for i in range(60)]
    local.write_text("logs/job/latest-build.txt", values[0])
    stop = threading.Event()
    errors: list[str] = []

    def writer() -> None:
        for value in values[1:]:
            local.write_text("logs/job/latest-build.txt", value)
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    allowed = set(values)
    while not stop.is_set() or reads < 50:
        seen = local.read_bytes("logs/job/latest-build.txt").decode()
        reads += 1
        if seen not in allowed:
            errors.append(f"torn read of {len(seen)} chars")
    thread.join()
    assert errors == []
    assert local.read_bytes("logs/job/latest-build.txt").decode() == values[-1]
    # No temporary files are left behind or listed.
    assert [e.path for e in local.list("logs/job")] == ["logs/job/latest-build.txt"]
    assert os.listdir(local.root / "logs" / "job") == ["latest-build.txt"]


def test_read_range_of_a_large_file_uses_bounded_memory(local: LocalStore) -> None:
    size = 50 * 1024 * 1024
    path = local.root / "logs" / "job" / "1" / "build-log.txt"
    path.parent.mkdir(parents=True)
    markers = {0: b"BEGIN", 17 * 1024 * 1024 + 3: b"MIDDLE", size - 3: b"END"}
    with open(path, "wb") as handle:
        handle.truncate(size)  # sparse: instant, and reads back as zeros
        for offset, data in markers.items():
            handle.seek(offset)
            handle.write(data)

    assert local.size("logs/job/1/build-log.txt") == size
    tracemalloc.start()
    try:
        for offset, data in markers.items():
            got = local.read_range("logs/job/1/build-log.txt", offset, 1024 * 1024)
            assert got[: len(data)] == data
            assert len(got) == min(1024 * 1024, size - offset)
        window = local.read_range("logs/job/1/build-log.txt", 17 * 1024 * 1024, 8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert window == b"\0\0\0MIDDL"
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes for 1 MiB pages of a 50 MiB file"


def test_symlink_inside_root_cannot_lead_outside(local: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (local.root / "link").symlink_to(outside)

    with pytest.raises(ValueError, match="outside the store"):
        local.read_bytes("link/secret.txt")
    with pytest.raises(ValueError, match="outside the store"):
        local.write_text("link/new.txt", "x")
    with pytest.raises(ValueError, match="outside the store"):
        local.delete_prefix("link")
    assert not (outside / "new.txt").exists()
    assert (outside / "secret.txt").read_text() == "secret"
    assert local.list() == []  # the symlink is not listed as content


def test_files_are_world_readable_and_failed_writes_leave_no_temp(local: LocalStore) -> None:
    local.write_text("a/b.txt", "x")
    mode = stat.S_IMODE((local.root / "a" / "b.txt").stat().st_mode)
    assert mode == 0o644
    with pytest.raises(OSError), local.open_write("a/c.txt") as handle:
        handle.write(b"partial")
        raise OSError("disk full")
    assert sorted(os.listdir(local.root / "a")) == ["b.txt"]


def test_writing_over_a_directory_fails_clearly(local: LocalStore) -> None:
    local.write_text("dir/file.txt", "x")
    with pytest.raises(IsADirectoryError):
        local.write_text("dir", "x")
    with pytest.raises(IsADirectoryError):
        local.read_bytes("dir")
    assert local.read_bytes("dir/file.txt") == b"x"


def test_link_file_publishes_the_same_bytes_without_a_copy(
    local: LocalStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    log = out / "build-log.txt"
    log.write_bytes(b"line\n" * 1000)
    log.chmod(0o600)
    local.write_text("b/1/build-log.txt", "a live snapshot\n")
    local.link_file(log, "b/1/build-log.txt")
    published = local.root / "b" / "1" / "build-log.txt"
    assert os.path.samefile(published, log)  # one inode: the bytes are on the disk once
    assert published.stat().st_mode & 0o777 == 0o644  # readable, as a copy would be
    assert not [p for p in published.parent.iterdir() if TMP_MARK in p.name]
    # A file with other names (linked by a step from elsewhere) is copied instead: a later
    # change through another name must not change what was published.
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("shared\n")
    os.link(elsewhere, out / "linked.txt")
    local.link_file(out / "linked.txt", "b/1/linked.txt")
    copied = local.root / "b" / "1" / "linked.txt"
    assert not os.path.samefile(copied, elsewhere) and copied.read_text() == "shared\n"
